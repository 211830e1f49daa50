"""A streaming `multipart/form-data` reader for uploads: one file part to disk, small text fields.

Memory stays flat whatever the upload's size: the file part is written to a temporary file as it
arrives and refused (413) the moment it passes the cap. Headers are parsed with the standard
library's `email` machinery (quoted values, RFC 2231 `filename*`, raw UTF-8).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email.message import Message
from email.parser import HeaderParser
from email.utils import collapse_rfc2231_value
from pathlib import Path
from typing import BinaryIO

from reelforge.core.errors import ApiError, invalid

MAX_HEADER_BYTES = 16 * 1024
MAX_FIELD_BYTES = 64 * 1024
MAX_PARTS = 32


@dataclass
class UploadedFile:
    path: Path
    filename: str | None
    content_type: str | None
    size: int


@dataclass
class Form:
    fields: dict[str, str] = field(default_factory=dict)
    file: UploadedFile | None = None

    def discard(self) -> None:
        """Remove the temporary file, if it is still there."""
        if self.file is not None:
            self.file.path.unlink(missing_ok=True)


def boundary_of(content_type: str | None) -> bytes:
    msg = Message()
    msg["content-type"] = content_type or ""
    boundary = msg.get_param("boundary")
    if msg.get_content_type() != "multipart/form-data" or not isinstance(boundary, str):
        raise invalid("body", "must be multipart/form-data with a boundary")
    if not 0 < len(boundary) <= 200:
        raise invalid("body", "must be multipart/form-data with a boundary")
    return boundary.encode("latin-1")


def _text(value: object) -> str | None:
    if isinstance(value, tuple):  # RFC 2231: name*=UTF-8''...
        return collapse_rfc2231_value(value)
    return None if value is None else str(value)


def _headers(raw: bytes) -> Message:
    """Part headers; raw UTF-8 in them (what browsers and httpx send) is read as UTF-8."""
    return HeaderParser().parsestr(raw.decode("utf-8", "replace") + "\r\n\r\n")


class _Part:
    def __init__(self, headers: Message, file_field: str, tmp_dir: Path, max_file_bytes: int):
        name = _text(headers.get_param("name", header="content-disposition"))
        if headers.get_content_disposition() != "form-data" or not name:
            raise invalid("body", "every part needs 'Content-Disposition: form-data; name=...'")
        self.name = name
        self.is_file = name == file_field
        self.filename = _text(headers.get_filename())
        self.content_type = headers.get("content-type")
        self.max_file_bytes = max_file_bytes
        self.size = 0
        self.text = bytearray()
        self.sink: BinaryIO | None = None
        if self.is_file:
            tmp_dir.mkdir(parents=True, exist_ok=True)
            fd, path = tempfile.mkstemp(dir=tmp_dir, prefix="upload-", suffix=".part")
            self.path = Path(path)
            self.sink = os.fdopen(fd, "wb")

    def write(self, data: bytes | bytearray) -> None:
        self.size += len(data)
        if self.sink is not None:
            if self.size > self.max_file_bytes:
                limit = self.max_file_bytes // (1024 * 1024)
                raise ApiError(413, f"{self.name}: is larger than the {limit} MiB limit")
            self.sink.write(data)
        elif self.size > MAX_FIELD_BYTES:
            raise invalid(self.name, f"is longer than {MAX_FIELD_BYTES} bytes")
        else:
            self.text += data

    def close(self) -> None:
        if self.sink is not None:
            self.sink.close()

    def abandon(self) -> None:
        if self.sink is not None:
            self.sink.close()
            self.path.unlink(missing_ok=True)


async def read_form(
    chunks: AsyncIterator[bytes],
    content_type: str | None,
    *,
    file_field: str,
    tmp_dir: Path,
    max_file_bytes: int,
) -> Form:
    """Read a whole multipart body: text fields into `fields`, part `file_field` to a file.

    Raises ApiError 400 for malformed bodies and 413 when the file passes `max_file_bytes`.
    """
    delimiter = b"\r\n--" + boundary_of(content_type)
    keep = len(delimiter) - 1  # a delimiter may straddle two chunks
    buf = bytearray(b"\r\n")  # so the first delimiter looks like every later one
    form = Form()
    part: _Part | None = None
    state, parts = "preamble", 0

    def finish(p: _Part) -> None:
        p.close()
        if not p.is_file:
            form.fields[p.name] = p.text.decode("utf-8", "replace")
        elif form.file is not None:
            p.abandon()
            raise invalid(file_field, "send exactly one file part")
        else:
            form.file = UploadedFile(p.path, p.filename, p.content_type, p.size)

    def advance(final: bool) -> bool:
        """Consume what `buf` allows; True when more input is needed."""
        nonlocal part, state, parts
        while True:
            if state in ("preamble", "body"):
                at = buf.find(delimiter)
                if at < 0:
                    flush = len(buf) if final else len(buf) - keep
                    if part is not None and flush > 0:
                        part.write(buf[:flush])
                    if flush > 0:
                        del buf[:flush]
                    return True
                if part is not None:
                    part.write(buf[:at])
                    finish(part)
                    part = None
                del buf[: at + len(delimiter)]
                state = "delimiter"
            elif state == "delimiter":
                end = buf.find(b"\r\n")
                if buf.startswith(b"--"):
                    state = "end"
                    return False
                if end < 0:
                    if len(buf) > 256:
                        raise invalid("body", "malformed multipart delimiter")
                    return True
                if buf[:end].strip(b" \t"):
                    raise invalid("body", "malformed multipart delimiter")
                del buf[: end + 2]
                state = "headers"
            elif state == "headers":
                if buf.startswith(b"\r\n"):
                    end, skip = 0, 2  # a part with no headers at all
                else:
                    end, skip = buf.find(b"\r\n\r\n"), 4
                if end < 0:
                    if len(buf) > MAX_HEADER_BYTES:
                        raise invalid("body", "multipart part headers are too long")
                    return True
                parts += 1
                if parts > MAX_PARTS:
                    raise invalid("body", f"has more than {MAX_PARTS} parts")
                headers = _headers(bytes(buf[:end]))
                del buf[: end + skip]
                part = _Part(headers, file_field, tmp_dir, max_file_bytes)
                state = "body"
            else:
                return False

    try:
        async for chunk in chunks:
            buf += chunk
            advance(final=False)
            if state == "end":
                break
        else:
            advance(final=True)
        if state != "end":
            raise invalid("body", "multipart body ends before its closing boundary")
    except BaseException:
        if part is not None:
            with contextlib.suppress(Exception):
                part.abandon()
        form.discard()
        raise
    return form
