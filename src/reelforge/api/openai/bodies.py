"""Request bodies as the `openai` SDKs send them, translated into an `Order`.

Multipart (openai >= 2.27 always sends it) and JSON (older clients) read the same: form values
are strings, nested objects arrive as bracket keys (`input_reference[image_url]=...`,
`video[id]=...`), and `extra_body` keys arrive at the top level beside the SDK's own. File parts
are told apart by their content later (the part's Content-Type is not trusted). Wrong JSON types
are a 422, values that cannot be read a 400, each naming its parameter.
"""

from __future__ import annotations

import base64
import json
import math
import re
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request

from reelforge.core.errors import ApiError, invalid
from reelforge.core.scenario import BODY_FIELD
from reelforge.core.spec import InputRef
from reelforge.openai_videos import Order

MiB = 1024 * 1024
MAX_FILE_BYTES = 50 * MiB  # the Files API's cap, and the largest input video
MAX_FIELD_BYTES = 24 * MiB  # a text field: room for a 20 MiB `image_url` data URL

FORMS = ("multipart/form-data", "application/x-www-form-urlencoded")
_BRACKETS = re.compile(r"\[([^\[\]]*)\]")


async def read_body(request: Request) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The body's fields (bracket keys nested into objects) and its file parts' bytes."""
    content_type = request.headers.get("content-type", "").lower()
    if content_type.startswith(FORMS):
        fields: dict[str, Any] = {}
        files: dict[str, bytes] = {}
        async with request.form(max_files=4, max_fields=200, max_part_size=MAX_FIELD_BYTES) as form:
            for key, value in form.multi_items():
                if isinstance(value, UploadFile):
                    files[key] = await _read_file(key, value)
                else:
                    _nest(fields, key, value)
        return fields, files
    if content_type and not content_type.startswith("application/json"):
        raise ApiError(400, "body: send application/json or multipart/form-data", field="body")
    raw = await request.body()
    try:
        body = json.loads(raw) if raw.strip() else {}
    except ValueError:
        raise ApiError(422, "body: is not valid JSON", field="body") from None
    if not isinstance(body, dict):
        raise ApiError(422, "body: must be a JSON object", field="body")
    return body, {}


async def _read_file(key: str, upload: UploadFile) -> bytes:
    data = await upload.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        limit = MAX_FILE_BYTES // MiB
        raise ApiError(413, f"{key}: is larger than the {limit} MiB limit", field=key)
    if not data:
        raise invalid(key, "the file is empty")
    return data


def _nest(fields: dict[str, Any], key: str, value: str) -> None:
    """`a[b][c]=v` -> fields["a"]["b"]["c"] = v; a plain key is set as it is."""
    name, _, rest = key.partition("[")
    path = [name, *_BRACKETS.findall("[" + rest)] if rest else [name]
    target = fields
    for part in path[:-1]:
        child = target.get(part)
        if not isinstance(child, dict):
            child = target[part] = {}
        target = child
    target[path[-1]] = value


def order_from(fields: dict[str, Any], files: dict[str, bytes]) -> Order:
    """The Order a create, edit or extend body asks for."""
    prompt = _text(fields, "prompt")
    if not prompt:
        raise invalid("prompt", "is required")
    order = Order(
        prompt=prompt,
        model=_text(fields, "model"),
        seconds=_seconds(fields.get("seconds")),
        size=_text(fields, "size"),
        seed=_integer(fields, "seed"),
        generate_audio=_boolean(fields, "generate_audio"),
        negative_prompt=_text(fields, "negative_prompt"),
        webhook_url=_text(fields, "webhook_url"),
    )
    _scenario_field(order, fields)
    if "input_reference" in files:
        order.reference = InputRef(url=_data_url(files["input_reference"]), field="input_reference")
    elif "input_reference" in fields:
        order.reference = _reference(fields["input_reference"])
    if "video" in files:
        order.video_upload = files["video"]
    elif "video" in fields:
        video = fields["video"]
        if not isinstance(video, dict) or not isinstance(video.get("id"), str):
            raise ApiError(422, 'video: must be a file or {"id": "video_..."}', field="video")
        order.video_id = video["id"]
    return order


def remix_order(fields: dict[str, Any]) -> Order:
    """A remix body: its prompt (and the scenario body field)."""
    prompt = _text(fields, "prompt")
    if not prompt:
        raise invalid("prompt", "is required")
    return _scenario_field(Order(prompt=prompt), fields)


def _scenario_field(order: Order, fields: dict[str, Any]) -> Order:
    """The scenario sent as a body field (`extra_body`, for clients that cannot set headers);
    the route lets the Reelforge-Scenario header override it."""
    if (scenario := _text(fields, BODY_FIELD)) is not None:
        order.scenario, order.scenario_field = scenario, BODY_FIELD
    return order


def _reference(value: Any) -> InputRef:
    """`{image_url}` (an http(s) or data URL) or `{file_id}` (the Files API): exactly one."""
    if not isinstance(value, dict):
        raise ApiError(
            422,
            'input_reference: must be a file, {"image_url": ...} or {"file_id": ...}',
            field="input_reference",
        )
    url, file_id = value.get("image_url"), value.get("file_id")
    if (url is None) == (file_id is None):
        raise invalid("input_reference", "provide exactly one of image_url and file_id")
    if url is not None:
        if not isinstance(url, str):
            raise ApiError(
                422, "input_reference.image_url: must be a string", field="input_reference"
            )
        return InputRef(url=url, field="input_reference.image_url")
    if not isinstance(file_id, str):
        raise ApiError(422, "input_reference.file_id: must be a string", field="input_reference")
    return InputRef(file_id=file_id, field="input_reference.file_id")


def _data_url(data: bytes) -> str:
    # The service sniffs the bytes; the declared type is left empty on purpose.
    return "data:;base64," + base64.b64encode(data).decode()


def _text(fields: dict[str, Any], name: str) -> str | None:
    value = fields.get(name)
    if value is None or isinstance(value, str):
        return value
    raise ApiError(422, f"{name}: must be a string", field=name)


def _seconds(value: Any) -> int | None:
    """`"8"`, `8` and `8.0` are all 8 seconds."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ApiError(422, "seconds: must be a string or a number", field="seconds")
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not (math.isfinite(number) and number.is_integer()):
        raise invalid("seconds", f"must be a whole number of seconds, got {value!r}")
    return int(number)


def _integer(fields: dict[str, Any], name: str) -> int | None:
    value = fields.get(name)
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*\d+\s*", value):
        return int(value)
    if isinstance(value, str):
        raise invalid(name, f"must be a whole number, got {value!r}")
    raise ApiError(422, f"{name}: must be an integer", field=name)


def _boolean(fields: dict[str, Any], name: str) -> bool | None:
    value = fields.get(name)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if isinstance(value, str):
        raise invalid(name, f"must be true or false, got {value!r}")
    raise ApiError(422, f"{name}: must be a boolean", field=name)
