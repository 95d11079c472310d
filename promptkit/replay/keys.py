"""Request keys: the canonical form of a request that defines its answer, and its hash.

The canonical request is what a recording is looked up by and what a miss is compared
with. It holds the endpoint (method and the API path, without the host or any ``/v1``
prefix, so a recording made against one base URL replays against another), the JSON body
minus transport noise, the query string minus credentials, and the repeat index the eval
runner sets (so ``--prompt-repeat 3`` records three distinct answers).

Inline base64 data (an image sent as a ``data:`` URL, or Anthropic's ``base64`` source) is
held by the hash of its bytes, ``{"image_sha256": "sha256:…"}``: a cassette stays small
and readable, and two different images still make two different keys.
"""

from __future__ import annotations

import base64
import binascii
import contextvars
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import httpx2

from promptkit.errors import UsageError
from promptkit.hashing import content_hash
from promptkit.redact import Scrubber

__all__ = [
    "NOISE_FIELDS",
    "REPEAT_INDEX",
    "canonical_json_request",
    "canonical_request",
    "current_repeat",
    "repeat_index",
    "request_key",
]

NOISE_FIELDS = frozenset(
    {"metadata", "prompt_cache_key", "safety_identifier", "service_tier", "store", "user"}
)
"""Body fields left out of the key: they label, bill, cache or route a request (and often
carry run ids or timestamps) but do not change what the model is asked. `stream_options`
stays in: `include_usage` changes the recorded stream (its usage chunk)."""

REPEAT_INDEX: contextvars.ContextVar[int] = contextvars.ContextVar(
    "promptkit_repeat_index", default=0
)

_API_ROOTS = re.compile(
    r"/(chat|completions|embeddings|responses|messages|moderations|images|audio|models|batches"
    r"|files)(/|$)"
)
_SECRET_QUERY = re.compile(r"(?i)^(key|api[-_]?key|access[-_]?token|token|sig|signature)$")


def current_repeat() -> int:
    """The repeat index of the request being made (0 unless the runner set one)."""
    return REPEAT_INDEX.get()


@contextmanager
def repeat_index(index: int) -> Iterator[int]:
    """Within the block, requests are keyed with repeat `index` (0, 1, 2, ... per repeat)."""
    if not isinstance(index, int) or isinstance(index, bool) or index < 0:
        raise UsageError(f"a repeat index is an int of 0 or more, got {index!r}")
    token = REPEAT_INDEX.set(index)
    try:
        yield index
    finally:
        REPEAT_INDEX.reset(token)


def canonical_request(request: httpx2.Request, scrubber: Scrubber, repeat: int) -> dict[str, Any]:
    """The readable, secret-free form of `request` (its body must have been read)."""
    return _canonical(request.method, request.url.path, request.url.params.multi_items(),
                      request.content, scrubber, repeat)


def canonical_json_request(method: str, path: str, body: Mapping[str, Any], scrubber: Scrubber,
                           repeat: int) -> dict[str, Any]:
    """The canonical form of a JSON request with no query string, from its parts: the key a
    replay can look up without building the request (the same as `canonical_request` of
    the request the SDK would send)."""
    # Through JSON and back, as on the wire: tuples become lists, keys strings, as in the
    # body the SDK would have sent.
    encoded = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return _canonical(method, path, (), encoded.encode(), scrubber, repeat)


def _canonical(method: str, path: str, query: Iterable[tuple[str, str]], content: bytes,
               scrubber: Scrubber, repeat: int) -> dict[str, Any]:
    """The canonical request of a method, an URL path, query pairs and the body's bytes."""
    canonical: dict[str, Any] = {"endpoint": f"{method} {_endpoint(path)}", "repeat": repeat}
    body = _body(content)
    if body is not None:
        canonical["body"] = body if _plain(content, scrubber) else \
            scrubber.data(_inline_data_hashed(body))
    kept = sorted((k, v) for k, v in query if not _SECRET_QUERY.match(k))
    if kept:
        canonical["query"] = [list(pair) for pair in kept]
    return canonical


def request_key(canonical: Mapping[str, Any]) -> str:
    """The key of a canonical request: its content hash (``sha256:<hex>``)."""
    return content_hash(dict(canonical))


def _endpoint(path: str) -> str:
    """The API path from its resource on: ``/proxy/v1/chat/completions`` → ``/chat/completions``."""
    match = _API_ROOTS.search(path)
    return path[match.start() :] if match else path


def _plain(content: bytes, scrubber: Scrubber) -> bool:
    """Whether the body's text shows it holds no inline data and nothing to scrub: its
    parsed form is then its canonical form, with no walk through it (the usual request)."""
    return b'"data:' not in content and b"base64" not in content and scrubber.clean(content)


def _body(content: bytes) -> Any:
    if not content:
        return None
    try:
        body = json.loads(content)
    except ValueError:
        return {"content_sha256": content_hash(content)}
    if isinstance(body, dict):
        return {k: v for k, v in body.items() if k not in NOISE_FIELDS}
    return body


_DATA_URL = re.compile(r"^data:(?P<media>[^;,]*)(;[^;,]*)*;base64,(?P<data>.*)$", re.S)


def _inline_data_hashed(value: Any) -> Any:
    """`value` with every inline base64 payload replaced by the hash of its bytes: a data URL
    by `{"image_sha256": ..., "media_type": ...}`, the `data` of a `{"type": "base64"}`
    source by `{"image_sha256": ...}` (`data_sha256` for what is not an image)."""
    if isinstance(value, str):
        match = _DATA_URL.match(value) if value.startswith("data:") else None
        if match is None:
            return value
        media = match["media"]
        return {**_payload_hash(match["data"], media), "media_type": media}
    if isinstance(value, list):
        return [_inline_data_hashed(item) for item in value]
    if not isinstance(value, dict):
        return value
    hashed = {key: _inline_data_hashed(item) for key, item in value.items()}
    if value.get("type") == "base64" and isinstance(value.get("data"), str):
        hashed["data"] = _payload_hash(value["data"], str(value.get("media_type", "")))
    return hashed


def _payload_hash(data: str, media_type: str) -> dict[str, str]:
    """The hash of the bytes `data` encodes (of the text itself when it does not decode), so
    the key of an image is the `sha256sum` of its file."""
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raw = data.encode("utf-8")
    name = "image_sha256" if media_type.startswith("image/") else "data_sha256"
    return {name: content_hash(raw)}
