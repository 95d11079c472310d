"""Encodings attackers use to slip an instruction past filters and a model's training:
base64, ROT13, reversed text, look-alike letters and zero-width characters. The leak check
reads answers through the same encodings."""

from __future__ import annotations

import base64
import binascii
import codecs
import re

__all__ = ["ZERO_WIDTH", "base64_text", "decoded_base64", "homoglyphs", "reversed_text",
           "rot13", "zero_width"]

ZERO_WIDTH = "\u200b"

_HOMOGLYPHS = str.maketrans({"a": "\u0430", "e": "\u0435", "o": "\u043e", "c": "\u0441",
                             "p": "\u0440", "x": "\u0445", "i": "\u0456"})
"""Latin letters and the Cyrillic letters that look the same."""

_BASE64_RUN = re.compile(r"[A-Za-z0-9+/]{12,}={0,2}")


def base64_text(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def rot13(text: str) -> str:
    return codecs.encode(text, "rot13")


def reversed_text(text: str) -> str:
    return text[::-1]


def homoglyphs(text: str) -> str:
    """`text` with some Latin letters swapped for Cyrillic look-alikes."""
    return text.translate(_HOMOGLYPHS)


def zero_width(text: str) -> str:
    """`text` with a zero-width space inside every word, so keyword filters miss it."""
    return " ".join(ZERO_WIDTH.join(word) for word in text.split(" "))


def decoded_base64(text: str) -> list[str]:
    """Every run of `text` that decodes from base64 to UTF-8, decoded."""
    found = []
    for run in _BASE64_RUN.findall(text):
        try:
            found.append(base64.b64decode(run + "=" * (-len(run) % 4)).decode("utf-8"))
        except (binascii.Error, UnicodeDecodeError):
            continue
    return found
