"""Image inputs: a file path, an http(s) URL or a data URL, rendered as a chat content part
(`{"type": "image_url", "image_url": {"url": ...}}`, which every provider adapter converts).

A file is read, checked by its first bytes (PNG, JPEG, GIF or WebP, whatever its name
says) and held to `max_image_bytes`, then sent as a data URL; a URL is passed on as it is.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from pathlib import Path
from typing import Any, NoReturn

from promptkit.errors import InputValidationError, ResourceLimitError
from promptkit.templates.limits import LIMITS, limit_message

__all__ = ["MEDIA_TYPES", "ImageSlots", "image_part"]

MEDIA_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
"""The image types an input may hold: those OpenAI, Anthropic and Gemini all accept."""

_NAMES = "PNG, JPEG, GIF or WebP"
_MARKER = re.compile("\ue000([0-9a-f]+):(\\d+)\ue001")
"""Where an image landed in a rendered text: `ImageSlots`' nonce and the image's index. One
pattern for every render; a marker with another render's nonce stays text."""
_DATA_URL = re.compile(r"^data:(?P<media>[\w.+-]+/[\w.+-]+);base64,(?P<data>.*)$", re.S)


def image_part(value: str, variable: str, where: dict[str, Any]) -> dict[str, Any]:
    """The content part of an image input's value; a bad value is an InputValidationError,
    a too large one a ResourceLimitError, both naming the variable and the prompt."""
    if value.startswith(("http://", "https://")):
        url = value
    elif value.startswith("data:"):
        url = _checked_data_url(value, variable, where)
    else:
        url = _file_data_url(Path(value), variable, where)
    return {"type": "image_url", "image_url": {"url": url}}


def _checked_data_url(url: str, variable: str, where: dict[str, Any]) -> str:
    match = _DATA_URL.match(url)
    if match is None:
        _refuse(f"variable {variable!r}: a data URL must read data:<type>;base64,<data>",
                variable, where)
    media, data = match["media"], match["data"]
    if media not in MEDIA_TYPES:
        _refuse(f"variable {variable!r}: {media} is not an image type sent to models "
                f"({', '.join(MEDIA_TYPES)})", variable, where)
    _check_size(len(data) * 3 // 4, f"variable {variable!r}: the data URL's image", where)
    try:
        base64.b64decode(data, validate=True)
    except binascii.Error:
        _refuse(f"variable {variable!r}: the data URL's base64 does not decode", variable, where)
    return url


def _file_data_url(path: Path, variable: str, where: dict[str, Any]) -> str:
    if not path.is_file():
        _refuse(f"variable {variable!r}: no image file at {path}", variable, where)
    _check_size(path.stat().st_size, f"variable {variable!r}: {path}", where)
    data = path.read_bytes()
    media = _media_type(data)
    if media is None:
        _refuse(f"variable {variable!r}: {path} is not a {_NAMES} image", variable, where)
    return f"data:{media};base64,{base64.b64encode(data).decode('ascii')}"


def _media_type(data: bytes) -> str | None:
    """The image type by the file's signature (its first bytes), None when not allowed."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _check_size(size: int, what: str, where: dict[str, Any]) -> None:
    if size > LIMITS.max_image_bytes:
        raise ResourceLimitError(
            limit_message(f"{what} is {size:,} bytes, more than", "max_image_bytes"), **where)


def _refuse(message: str, variable: str, where: dict[str, Any]) -> NoReturn:
    raise InputValidationError(message, variable=variable, **where)


class ImageSlots:
    """Image inputs while a template renders: each value stands in as a marker no other
    value can forge (it holds a random nonce), and `content` puts the parts back where the
    markers landed, so `{{ photo }}` places the image among the message's text."""

    def __init__(self) -> None:
        self._nonce = secrets.token_hex(8)
        self._parts: list[dict[str, Any]] = []

    def add(self, part: dict[str, Any]) -> str:
        """Hold `part`; the text that stands for it in the template."""
        self._parts.append(part)
        return f"\ue000{self._nonce}:{len(self._parts) - 1}\ue001"

    def content(self, text: str) -> str | list[dict[str, Any]]:
        """A message's content: `text` as it is when it holds no image, else its parts."""
        ours = [m for m in _MARKER.finditer(text) if m[1] == self._nonce] if self._parts else []
        if not ours:
            return text
        parts: list[dict[str, Any]] = []
        start = 0
        for marker in ours:
            _add_text(parts, text[start:marker.start()])
            parts.append(self._parts[int(marker[2])])
            start = marker.end()
        _add_text(parts, text[start:])
        return parts


def _add_text(parts: list[dict[str, Any]], text: str) -> None:
    if text.strip():
        parts.append({"type": "text", "text": text.strip()})
