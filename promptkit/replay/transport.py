"""The replay seam: an httpx2 transport that answers from cassettes and records real answers.

Give it to the `httpx2.AsyncClient` the openai SDK sends through, and everything above the
HTTP layer (parsing, validation, re-asks, tool calls, usage and cost) runs as it would
against the endpoint. A miss raises `ReplayMissError` from the transport: the SDK passes
any exception that is not an `httpx2.RequestError` or a timeout through untouched, and the
attempt loop retries only what `promptkit.core.failures.classify` calls transient, so the
miss reaches the caller at once, unwrapped and never retried.
"""

from __future__ import annotations

import asyncio
import time
import warnings
import weakref
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import httpx2
import openai

from promptkit.errors import UsageError
from promptkit.replay.keys import (
    canonical_json_request,
    canonical_request,
    current_repeat,
    request_key,
)
from promptkit.replay.modes import RecordMode
from promptkit.replay.responses import recordable, replay_response
from promptkit.replay.tally import current_tally

if TYPE_CHECKING:
    from promptkit.replay.cassette import Cassette
    from promptkit.replay.session import ReplaySession

__all__ = ["ReplayTransport"]


class ReplayTransport(httpx2.AsyncBaseTransport):
    """Answers each request from the active cassette of `session`, or records it.

    `upstream` is the transport real calls go through in record modes; by default one
    `httpx2.AsyncHTTPTransport` per event loop, created only when a call goes out (mode
    ``none`` never opens a connection).
    """

    def __init__(
        self, session: ReplaySession, *, upstream: httpx2.AsyncBaseTransport | None = None
    ) -> None:
        self.session = session
        self._upstream = upstream
        self._per_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop,
                                                  httpx2.AsyncBaseTransport] = (
            weakref.WeakKeyDictionary()
        )  # fmt: skip

    @property
    def offline(self) -> bool:
        """True when no request can reach the endpoint (mode ``none``), so a client may skip
        resolving an API key that CI does not have."""
        return self.session.mode is RecordMode.NONE

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        session = self.session
        cassette = session.active()
        await request.aread()
        canonical = canonical_request(request, session.scrubber, current_repeat())
        key = request_key(canonical)
        if session.mode.replays:
            entry = cassette.get(key)
            if entry is not None:
                self._replayed(entry["response"])
                return replay_response(entry["response"], key)
        if not session.mode.records(cassette.existed):
            raise session.miss(cassette, key, canonical)
        return await self._record(request, cassette, key, canonical)

    def recorded_json(self, method: str, path: str, body: dict[str, Any]) -> Any | None:
        """The JSON body recorded as the answer to a JSON request without a query string,
        found without building or sending the request: the replay fast path above the SDK
        (`promptkit.core.transport.recorded_answer`). None when this is not a replay of a
        complete JSON answer: the request then takes the HTTP path, which records it or
        reports the miss exactly as before. The answer is the cassette's own object: the
        caller reads it and never changes it."""
        session = self.session
        if not session.mode.replays:
            return None
        try:
            cassette = session.active()
        except UsageError:
            return None  # the HTTP path raises it, with the same words
        canonical = canonical_json_request(method, path, body, session.scrubber,
                                           current_repeat())
        entry = cassette.get(request_key(canonical))
        response = entry["response"] if entry is not None else None
        if response is None or response.get("status") != 200 or "body" not in response:
            return None
        self._replayed(response)
        return response["body"]  # the cassette's own: read, never changed

    def _replayed(self, response: dict[str, Any]) -> None:
        """Count a recorded response as replayed, with its recorded latency."""
        self.session.count("replayed")
        if (tally := current_tally()) is not None:
            tally.add_replayed(response.get("latency_s"))

    async def _record(
        self, request: httpx2.Request, cassette: Cassette, key: str, canonical: dict[str, Any]
    ) -> httpx2.Response:
        """Call the endpoint; a 2xx is recorded once its body has been read to a complete end,
        with the seconds from sending the request to the end of the body."""
        if (tally := current_tally()) is not None:
            tally.live += 1
        started = time.monotonic()
        try:
            response = await self._upstream_transport().handle_async_request(request)
        except BaseException:
            self.session.count("failed")
            raise
        if not 200 <= response.status_code < 300:
            self.session.count("failed")
            return response

        def done(raw: bytes | None) -> None:
            self._keep(response, raw, cassette, key, canonical, time.monotonic() - started)

        assert isinstance(response.stream, httpx2.AsyncByteStream)
        return httpx2.Response(
            response.status_code,
            headers=response.headers,
            stream=_TeeStream(response.stream, done),
            extensions=response.extensions,
        )

    def _keep(self, response: httpx2.Response, raw: bytes | None, cassette: Cassette, key: str,
              canonical: dict[str, Any], latency_s: float) -> None:  # fmt: skip
        """Record a body that arrived whole, if it is a complete success; warn, never raise.

        `raw` is None when reading the body failed."""
        session = self.session
        if raw is None:
            session.count("failed")
            return
        try:
            body = httpx2.Response(200, headers=_encoding(response), content=raw).read()
            content_type = response.headers.get("content-type", "")
            stored = recordable(response.status_code, content_type, body, session.scrubber)
        except Exception as exc:
            warnings.warn(f"promptkit replay: response not recorded in {cassette.path}: {exc!r}",
                          RuntimeWarning, stacklevel=2)  # fmt: skip
            stored = None
        if stored is None:
            session.count("failed")
            return
        previous = cassette.get(key)
        if previous is None or not _same_answer(previous["response"], stored):
            stored["latency_s"] = round(latency_s, 4)
            cassette.put(key, session.entry(canonical, stored))
        # else the recording stands as it was: re-recording an unchanged answer changes no line
        session.count("recorded")

    def _upstream_transport(self) -> httpx2.AsyncBaseTransport:
        if self._upstream is not None:
            return self._upstream
        loop = asyncio.get_running_loop()
        transport = self._per_loop.get(loop)
        if transport is None:
            transport = httpx2.AsyncHTTPTransport(limits=openai.DEFAULT_CONNECTION_LIMITS)
            self._per_loop[loop] = transport
        return transport

    async def aclose(self) -> None:
        """Close the upstream transport (the given one, or this loop's)."""
        if self._upstream is not None:
            await self._upstream.aclose()
            return
        transport = self._per_loop.pop(asyncio.get_running_loop(), None)
        if transport is not None:
            await transport.aclose()


class _TeeStream(httpx2.AsyncByteStream):
    """Passes the body through as it arrives and hands the whole of it to `done` at the end.

    `done` runs once: when the body is exhausted, or when it is closed early (the SDK stops
    reading a stream at ``[DONE]``), with the bytes that arrived; with None after a read
    error. Whether what arrived is complete enough to record is `recordable`'s call.
    """

    def __init__(
        self, upstream: httpx2.AsyncByteStream, done: Callable[[bytes | None], None]
    ) -> None:
        self._upstream = upstream
        self._done: Callable[[bytes | None], None] | None = done
        self._chunks: list[bytes] = []

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._upstream:
                self._chunks.append(chunk)
                yield chunk
        except Exception:  # a read error: never record (a consumer stopping early is no error)
            self._finish(failed=True)
            raise
        self._finish()

    async def aclose(self) -> None:
        try:
            self._finish()
        finally:
            await self._upstream.aclose()

    def _finish(self, *, failed: bool = False) -> None:
        done, self._done = self._done, None
        if done is not None:
            done(None if failed else b"".join(self._chunks))


_VOLATILE = frozenset({"id", "created", "system_fingerprint", "latency_s"})
"""What differs between two deliveries of the same answer: ids, timestamps, the latency."""


def _same_answer(recorded: dict[str, Any], stored: dict[str, Any]) -> bool:
    """Whether a new answer says what a recorded one (which has a latency) says."""
    if "latency_s" not in recorded:
        return False  # recorded before latencies were kept: take the new one, with its latency
    return _steady(recorded) == _steady(stored)


def _steady(value: Any) -> Any:
    """`value` without its volatile fields, at any depth (a stream's chunks carry them too)."""
    if isinstance(value, dict):
        return {k: _steady(v) for k, v in value.items() if k not in _VOLATILE}
    if isinstance(value, list):
        return [_steady(v) for v in value]
    return value


def _encoding(response: httpx2.Response) -> dict[str, str]:
    encoding = response.headers.get("content-encoding")
    return {"content-encoding": encoding} if encoding else {}
