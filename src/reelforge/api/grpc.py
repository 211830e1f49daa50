"""The xAI `xai_api.Video` gRPC service: translate protobuf to the service and back. No rules here.

The wire format is the official `xai-sdk` package's generated modules, so what the SDK sends is
exactly what this server reads. `xai_sdk.proto` picks the generated code that matches the installed
protobuf runtime, as the SDK itself does.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import grpc
from google.protobuf import json_format
from xai_sdk.proto import deferred_pb2, image_pb2, video_pb2, video_pb2_grpc

from reelforge.api.auth import KeyChecker
from reelforge.api.journal import Journal, key_hint, shortened
from reelforge.config import Settings
from reelforge.core.enums import Status
from reelforge.core.errors import ApiError, invalid
from reelforge.core.scenario import METADATA_KEY
from reelforge.core.spec import EXTENSION, GENERATION, InputRef, Keyframe, VideoRequest
from reelforge.service import JobView, VideoService

log = logging.getLogger("reelforge.grpc")

# The SDK sends and accepts up to 20 MiB; leave headroom for base64 data-URL inputs at that size.
MAX_MESSAGE_BYTES = 32 * 1024 * 1024

# HTTP status of an ApiError -> gRPC status. 413 (an input over a size limit) is INVALID_ARGUMENT:
# the request itself must change, whereas clients read RESOURCE_EXHAUSTED as "quota or rate
# limit: back off and retry", which would only repeat the same refusal.
GRPC_CODES = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    409: grpc.StatusCode.FAILED_PRECONDITION,
    413: grpc.StatusCode.INVALID_ARGUMENT,
    422: grpc.StatusCode.INVALID_ARGUMENT,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
    500: grpc.StatusCode.INTERNAL,
    503: grpc.StatusCode.UNAVAILABLE,
}

_DEFERRED = {
    Status.PENDING: deferred_pb2.DeferredStatus.PENDING,
    Status.DONE: deferred_pb2.DeferredStatus.DONE,
    Status.FAILED: deferred_pb2.DeferredStatus.FAILED,
    Status.EXPIRED: deferred_pb2.DeferredStatus.EXPIRED,
}

T = TypeVar("T")


def grpc_code(status: int) -> grpc.StatusCode:
    if status in GRPC_CODES:
        return GRPC_CODES[status]
    return grpc.StatusCode.INTERNAL if status >= 500 else grpc.StatusCode.INVALID_ARGUMENT


# --- wire -> VideoRequest ---------------------------------------------------------------------


def _enum_value(enum, prefix: str, number: int, spell: Callable[[str], str]) -> str | None:
    """`VIDEO_RESOLUTION_720P` -> "720p"; UNSPECIFIED -> None (the server's default)."""
    if number == 0:
        return None
    try:
        name = enum.Name(number)
    except ValueError:
        return f"unknown enum value {number}"  # the service refuses it, naming the field
    return spell(name.removeprefix(prefix))


def _aspect_ratio(msg) -> str | None:
    if not msg.HasField("aspect_ratio"):
        return None
    return _enum_value(
        video_pb2.VideoAspectRatio,
        "VIDEO_ASPECT_RATIO_",
        msg.aspect_ratio,
        lambda s: s.replace("_", ":"),
    )


def _resolution(msg) -> str | None:
    if not msg.HasField("resolution"):
        return None
    return _enum_value(
        video_pb2.VideoResolution, "VIDEO_RESOLUTION_", msg.resolution, lambda s: s.lower()
    )


def _image(msg: image_pb2.ImageUrlContent, field: str) -> InputRef:
    source = msg.WhichOneof("source")
    if source == "image_url":
        return InputRef(url=msg.image_url, field=f"{field}.image_url")
    if source == "file_id":
        return InputRef(file_id=msg.file_id, field=f"{field}.file_id")
    return InputRef(field=field)  # neither set: the service says what is missing


def _video(msg: video_pb2.VideoUrlContent, field: str = "video") -> InputRef:
    source = msg.WhichOneof("source")
    if source == "url":
        return InputRef(url=msg.url, field=f"{field}.url")
    if source == "file_id":
        return InputRef(file_id=msg.file_id, field=f"{field}.file_id")
    return InputRef(field=field)


def _voices(msg: video_pb2.GenerateVideoRequest) -> list[str]:
    voices = []
    for i, audio in enumerate(msg.reference_audios):
        if audio.WhichOneof("source") != "voice_id":
            raise invalid(f"reference_audios[{i}]", "only voice_id references are supported")
        voices.append(audio.voice_id)
    return voices


def generate_request(msg: video_pb2.GenerateVideoRequest) -> VideoRequest:
    return VideoRequest(
        model=msg.model or None,
        prompt=msg.prompt,
        duration=msg.duration if msg.HasField("duration") else None,
        aspect_ratio=_aspect_ratio(msg),
        resolution=_resolution(msg),
        image=_image(msg.image, "image") if msg.HasField("image") else None,
        video=_video(msg.video) if msg.HasField("video") else None,
        last_frame=_image(msg.last_frame, "last_frame") if msg.HasField("last_frame") else None,
        reference_images=[
            _image(r, f"reference_images[{i}]") for i, r in enumerate(msg.reference_images)
        ],
        keyframes=[
            Keyframe(_image(k.image, f"keyframes[{i}].image"), k.timestamp_s)
            for i, k in enumerate(msg.keyframes)
        ],
        voices=_voices(msg),
        generate_audio=msg.generate_audio if msg.HasField("generate_audio") else None,
    )


def extend_request(msg: video_pb2.ExtendVideoRequest) -> VideoRequest:
    return VideoRequest(
        model=msg.model or None,
        prompt=msg.prompt,
        duration=msg.duration if msg.HasField("duration") else None,
        video=_video(msg.video) if msg.HasField("video") else None,
    )


# --- JobView -> wire --------------------------------------------------------------------------


def deferred_response(view: JobView) -> video_pb2.GetDeferredVideoResponse:
    """`response` is present only for DONE and FAILED, as the contract says."""
    out = video_pb2.GetDeferredVideoResponse(status=_DEFERRED[view.status])
    if view.status == Status.DONE:
        out.response.model = view.model
        out.response.progress = 100
        out.response.video.url = view.video_url
        out.response.video.duration = view.duration
        out.response.video.respect_moderation = view.respect_moderation
        if view.cost_in_usd_ticks is not None:
            out.response.usage.cost_in_usd_ticks = view.cost_in_usd_ticks
    elif view.status == Status.FAILED:
        out.response.model = view.model
        out.response.progress = 0
        out.response.error.code = view.error_code or ""
        out.response.error.message = view.error_message or ""
    return out


# --- service ----------------------------------------------------------------------------------


class VideoServicer(video_pb2_grpc.VideoServicer):
    def __init__(
        self,
        service: VideoService,
        keys: KeyChecker,
        base_url: str,
        journal: Journal | None = None,
    ):
        self.service = service
        self.keys = keys
        self.base_url = base_url
        self.journal = journal

    def _call(
        self, context: grpc.ServicerContext, method: str, message, work: Callable[[str], T]
    ) -> T:
        """Authenticate, run `work(owner)`, and turn refusals into gRPC statuses (an error's
        headers, such as Retry-After, go out as trailing metadata in lower case)."""
        metadata = dict(context.invocation_metadata() or ())
        status, job_id = grpc.StatusCode.OK, None
        try:
            result = work(self.keys.owner(metadata.get("authorization")))
            job_id = getattr(result, "request_id", None) or getattr(message, "request_id", None)
            return result
        except ApiError as exc:
            status = grpc_code(exc.status)
            if exc.headers:
                context.set_trailing_metadata([(k.lower(), v) for k, v in exc.headers.items()])
            context.abort(status, exc.message)
        except Exception:
            log.exception("gRPC call failed")
            status = grpc.StatusCode.INTERNAL
            context.abort(status, "internal error")
        finally:
            if self.journal is not None:
                self._record(method, message, metadata, status, job_id)
        raise AssertionError("unreachable: context.abort raises")

    def _record(self, method, message, metadata, status, job_id) -> None:
        authorization = metadata.pop("authorization", None)
        assert self.journal is not None
        self.journal.add(
            {
                "surface": "grpc",
                "method": "POST",
                "path": f"/xai_api.Video/{method}",
                "query": "",
                "headers": {k: v for k, v in metadata.items() if isinstance(v, str)},
                "body": shortened(json_format.MessageToDict(message)),
                "key": key_hint(authorization),
                "status": status.name,
                "job_id": job_id,
            }
        )

    def _start(self, context, kind: str, message, translate: Callable[[], VideoRequest]):
        """Create a job; the wire is translated inside `_call`, so its refusals map to codes.
        A scenario comes as the `reelforge-scenario` call metadata (xai-sdk:
        `Client(metadata=...)`); the message's bytes tell repeats of one request apart."""
        scenario = dict(context.invocation_metadata() or ()).get(METADATA_KEY)
        digest = ""
        if scenario:
            wire = kind.encode() + message.SerializeToString(deterministic=True)
            digest = hashlib.sha256(wire).hexdigest()
        return self._call(
            context,
            "ExtendVideo" if kind == EXTENSION else "GenerateVideo",
            message,
            lambda owner: deferred_pb2.StartDeferredResponse(
                request_id=self.service.create(
                    owner,
                    kind,
                    translate(),
                    base_url=self.base_url,
                    scenario=scenario,
                    scenario_field=METADATA_KEY,
                    fingerprint=digest,
                )
            ),
        )

    def GenerateVideo(self, request, context):  # noqa: N802 (generated servicer names)
        return self._start(context, GENERATION, request, lambda: generate_request(request))

    def ExtendVideo(self, request, context):  # noqa: N802
        return self._start(context, EXTENSION, request, lambda: extend_request(request))

    def GetDeferredVideo(self, request, context):  # noqa: N802
        return self._call(
            context,
            "GetDeferredVideo",
            request,
            lambda owner: deferred_response(
                self.service.view(owner, request.request_id, self.base_url, poll=True)
            ),
        )


def rest_base_url(settings: Settings) -> str:
    """Where video links point: --public-url, else the REST server's own address."""
    if settings.public_url:
        return settings.public_url
    host = settings.host
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return f"http://{host}:{settings.port}"
    if address.is_unspecified:  # bound to every address: loopback is one of them
        address = ipaddress.ip_address("::1" if address.version == 6 else "127.0.0.1")
    shown = f"[{address}]" if address.version == 6 else str(address)
    return f"http://{shown}:{settings.port}"


def start_server(
    service: VideoService,
    keys: KeyChecker,
    settings: Settings,
    *,
    threads: int = 8,
    journal: Journal | None = None,
) -> grpc.Server:
    """Serve `xai_api.Video` on settings' host and gRPC port; RuntimeError if it cannot bind."""
    host, port = settings.host, settings.grpc_port
    server = grpc.server(
        ThreadPoolExecutor(max_workers=threads, thread_name_prefix="reelforge-grpc"),
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.so_reuseport", 0),  # a second server on the same port must fail, not share it
        ],
    )
    servicer = VideoServicer(service, keys, rest_base_url(settings), journal)
    video_pb2_grpc.add_VideoServicer_to_server(servicer, server)
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        server.add_insecure_port(address)
    except RuntimeError:
        raise RuntimeError(f"cannot listen for gRPC on {address}: is the port in use?") from None
    server.start()
    log.info("gRPC (xai_api.Video) listening on %s", address)
    return server
