"""RFC 2397 `data:` URLs, which stand in for a fetch: decoded under the same size caps."""

from __future__ import annotations

import base64
import binascii
import urllib.parse

from reelforge.core.errors import InputError
from reelforge.core.units import human_bytes as _human


def is_data_url(url: str) -> bool:
    return url[:5].lower() == "data:"


def parse_data_url(url: str, field: str, max_bytes: int | None = None) -> bytes:
    """Decode an RFC 2397 `data:` URL. The declared media type is ignored: sniffing decides."""
    if not is_data_url(url):
        raise InputError(field, "is not a data URL")
    header, sep, payload = url[5:].partition(",")
    if not sep:
        raise InputError(field, "is a malformed data URL (no ',' before the data)")
    params = [p.strip().lower() for p in header.split(";")]
    if "base64" in params[1:]:
        # Clients sometimes percent-encode '+', '/', '=' or wrap lines; both are harmless.
        text = urllib.parse.unquote(payload) if "%" in payload else payload
        text = "".join(text.split())
        if max_bytes is not None and len(text) * 3 // 4 > max_bytes + 3:
            raise InputError(field, f"data URL is larger than the {_human(max_bytes)} limit")
        if "-" in text or "_" in text:
            text = text.replace("-", "+").replace("_", "/")  # URL-safe alphabet
        text += "=" * (-len(text) % 4)
        try:
            data = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise InputError(field, "data URL has invalid base64 data") from None
    else:
        data = urllib.parse.unquote_to_bytes(payload)
    if not data:
        raise InputError(field, "data URL contains no data")
    if max_bytes is not None and len(data) > max_bytes:
        raise InputError(field, f"data URL is larger than the {_human(max_bytes)} limit")
    return data
