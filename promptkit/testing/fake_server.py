"""A real HTTP server on 127.0.0.1 that answers model requests from a script and injects faults.

    with FakeOpenAIServer([Reply(status=429, retry_after=0.1), Reply(content={"a": 1})]) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="sk-fake")
        claude = anthropic.Anthropic(base_url=server.anthropic_base_url, api_key="sk-fake")

It speaks three protocols, picked by the route posted to: OpenAI chat completions
(`/v1/chat/completions`), the OpenAI Responses API (`/v1/responses`) and Anthropic Messages
(`/v1/messages`). One `Reply` renders in whichever was asked for, faults and streams included
(see `shapes/`); `RecordedRequest.protocol` tells which one a request used.

Each model request takes the next queued `Reply`; when the queue is empty,
`handler(body, index)` decides (returning None defers), else `default`. With `fault_rate`, a
seeded random share of model requests gets one of `faults` instead. Every request is
recorded in `requests`.

The server is one asyncio loop on a daemon thread speaking HTTP/1.1 with keep-alive, so a
slow or hanging reply never blocks the others and thousands of calls a second get through.
A `handler` runs on that loop: keep it quick (use `Reply.latency` for slowness).
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
import struct
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from promptkit.testing.replies import Reply
from promptkit.testing.shapes import (
    CHAT,
    ApiProtocol,
    Shape,
    SseEvent,
    cut_stream,
    request_id,
    shape_for,
)

__all__ = ["DEFAULT_FAULTS", "FakeOpenAIServer", "RecordedRequest"]

Handler = Callable[[dict[str, Any], int], "Reply | None"]

_RATE_LIMITED = Reply(status=429, retry_after=0.1, error_code="rate_limit_exceeded")
DEFAULT_FAULTS: tuple[Reply, ...] = (
    _RATE_LIMITED,
    _RATE_LIMITED,
    Reply(status=500),
    Reply(status=500),
    Reply(reset=True),
    Reply(malformed=True),
)
"""The faults of `fault_rate` mode, drawn uniformly from this list: a 429 with Retry-After
0.1 s and a 500 each twice as often as a reset or a malformed body, so `fault_rate=0.3` is
the issue's mix of 10 % 429, 10 % 500, 5 % resets and 5 % malformed bodies."""

_UNAUTHORIZED = Reply(
    status=401, error_code="invalid_api_key", error_message="Incorrect API key provided"
)
_MODELS = {
    "object": "list",
    "data": [{"id": "fake-model", "object": "model", "created": 0, "owned_by": "promptkit"}],
}
_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    408: "Request Timeout",
    409: "Conflict",
    413: "Content Too Large",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    529: "Overloaded",
}


@dataclass(frozen=True)
class RecordedRequest:
    """One request the server received, and the reply it chose.

    `protocol` is the one its route speaks ("chat", "responses" or "anthropic"), None for
    any other route (such as `GET /v1/models`).
    """

    index: int
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    reply: Reply | None = field(default=None, compare=False)
    fault: bool = False
    protocol: ApiProtocol | None = None


class FakeOpenAIServer:
    """A scriptable model server on 127.0.0.1 (a context manager) speaking OpenAI chat,
    OpenAI Responses and Anthropic Messages.

    Point the OpenAI SDK at `base_url` and the Anthropic SDK at `anthropic_base_url`.
    With `api_key` set, a request must carry it as its protocol's SDK sends it:
    `Authorization: Bearer <key>`, or `x-api-key` on the Anthropic route; with
    `api_key_header` too, in that header instead (Azure OpenAI's `api-key`).
    """

    def __init__(
        self,
        replies: Iterable[Reply] = (),
        *,
        default: Reply | None = None,
        handler: Handler | None = None,
        fault_rate: float = 0.0,
        faults: Iterable[Reply] = DEFAULT_FAULTS,
        seed: int = 0,
        api_key: str | None = None,
        api_key_header: str | None = None,
        hang_limit_s: float = 300.0,
    ) -> None:
        self.default = default or Reply()
        self.handler = handler
        self.fault_rate = fault_rate
        self.faults = tuple(faults)
        self.api_key = api_key
        self.api_key_header = api_key_header
        self.hang_limit_s = hang_limit_s
        self._queue: deque[Reply] = deque(replies)
        self._rng = random.Random(seed)
        self._requests: list[RecordedRequest] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._stopping: asyncio.Event | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0
        self.in_flight = 0
        """Model requests being answered now (latency included)."""
        self.peak_in_flight = 0
        """The most model requests ever answered at once: what bounds a client's concurrency."""

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> FakeOpenAIServer:
        """Listen on 127.0.0.1 on a free port and serve from a daemon thread."""
        if self._loop is not None:
            return self
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="fake-openai", daemon=True
        )
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(timeout=10)
        return self

    def stop(self) -> None:
        """Stop serving, cut open connections (hangs included) and join the thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
        self._loop = self._thread = None

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """The URL to give an OpenAI client (chat and Responses): `http://127.0.0.1:<port>/v1`."""
        return f"{self.url}/v1"

    @property
    def anthropic_base_url(self) -> str:
        """The URL to give an Anthropic client: `http://127.0.0.1:<port>`, without `/v1`,
        because that SDK appends `/v1/messages` to its base URL itself."""
        return self.url

    # -- script and evidence ------------------------------------------------------------

    def enqueue(self, *replies: Reply) -> None:
        """Queue replies for the next requests, in order."""
        self._queue.extend(replies)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, in arrival order."""
        return list(self._requests)

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        """The requests posted to the chat completions route."""
        return [r for r in self._requests if r.protocol == "chat"]

    def clear(self) -> None:
        """Forget recorded requests and queued replies."""
        self._requests.clear()
        self._queue.clear()

    # -- serving -----------------------------------------------------------------------

    async def _listen(self) -> None:
        self._stopping = asyncio.Event()
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _shutdown(self) -> None:
        assert self._server is not None and self._stopping is not None
        self._stopping.set()
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while await self._one_request(reader, writer):
                pass
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        except asyncio.CancelledError:
            pass  # the server is stopping; this connection ends here
        finally:
            self._tasks.discard(task)
            writer.close()

    async def _one_request(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        head = await reader.readuntil(b"\r\n\r\n")
        method, path, headers = _parse_head(head)
        raw = await _read_body(reader, headers)
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        index = len(self._requests)
        shape = shape_for(method, path)
        reply, fault = self._choose(shape, headers, body, index)
        protocol = shape.protocol if shape else None
        recorded = RecordedRequest(index, method, path, headers, body, reply, fault, protocol)
        self._requests.append(recorded)
        if reply is None:
            return await self._route_other(method, path, writer)
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            request = body if isinstance(body, dict) else {}
            return await self._answer(reply, shape or CHAT, request, index, reader, writer)
        finally:
            self.in_flight -= 1

    def _choose(
        self, shape: Shape | None, headers: dict[str, str], body: Any, index: int
    ) -> tuple[Reply | None, bool]:
        """The reply to a request: a 401 when the key is wrong, None when the route is not
        a model request's, else a fault, the queue, the handler or the default, in order."""
        if self.api_key is not None and self._credential(shape, headers) != self.api_key:
            return _UNAUTHORIZED, False
        if shape is None:
            return None, False
        if self.fault_rate and self.faults and self._rng.random() < self.fault_rate:
            return self._rng.choice(self.faults), True
        if self._queue:
            return self._queue.popleft(), False
        if self.handler is not None:
            chosen = self.handler(body if isinstance(body, dict) else {}, index)
            if chosen is not None:
                return chosen, False
        return self.default, False

    def _credential(self, shape: Shape | None, headers: dict[str, str]) -> str | None:
        if self.api_key_header is not None:
            return headers.get(self.api_key_header.lower())
        return (shape or CHAT).credential(headers)

    async def _route_other(self, method: str, path: str, writer: asyncio.StreamWriter) -> bool:
        if method == "GET" and path.rstrip("/").endswith("/models"):
            return await _send_json(writer, 200, _MODELS, {})
        return await _send_json(writer, 404, CHAT.error_body(Reply(status=404), 0), {})

    async def _answer(
        self,
        reply: Reply,
        shape: Shape,
        request: dict[str, Any],
        index: int,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> bool:
        """Send `reply` in the shape's protocol; False when the connection must not be reused."""
        if reply.latency > 0:
            await asyncio.sleep(reply.latency)
        headers = {shape.request_id_header: request_id(index), **reply.response_headers()}
        if reply.hang:
            await self._hang(reader)
            return False
        if reply.status != 200:
            return await _send_json(writer, reply.status, shape.error_body(reply, index), headers)
        body = json.dumps(shape.body(reply, request, index)).encode()
        if reply.malformed:  # the first half of the real body: not JSON, on every protocol
            return await _send(writer, 200, body[: len(body) // 2], headers)
        if reply.reset:
            await _reset(writer, body, headers)
            return False
        if request.get("stream"):
            events = shape.stream(reply, request, index)
            if reply.stream_cut_after is not None:
                events = cut_stream(events, reply.stream_cut_after)
            return await _send_stream(writer, events, reply.chunk_delay, headers)
        return await _send(writer, 200, body, headers)

    async def _hang(self, reader: asyncio.StreamReader) -> None:
        """Say nothing until the client hangs up, the server stops, or the hang limit passes."""
        assert self._stopping is not None
        stop, hangup = self._stopping.wait(), reader.read(1)
        waits = {asyncio.ensure_future(stop), asyncio.ensure_future(hangup)}
        try:
            done = asyncio.FIRST_COMPLETED
            await asyncio.wait(waits, timeout=self.hang_limit_s, return_when=done)
        finally:
            for wait in waits:
                wait.cancel()


def _parse_head(head: bytes) -> tuple[str, str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    method, path, _version = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    return method, path, headers


async def _read_body(reader: asyncio.StreamReader, headers: Mapping[str, str]) -> bytes:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        parts: list[bytes] = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                return b"".join(parts)
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
    length = int(headers.get("content-length", "0") or 0)
    return await reader.readexactly(length) if length else b""


def _head(status: int, headers: Mapping[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def _send(
    writer: asyncio.StreamWriter,
    status: int,
    body: bytes,
    headers: Mapping[str, str],
    content_type: str = "application/json",
) -> bool:
    all_headers = {"content-type": content_type, "content-length": str(len(body)), **headers}
    writer.write(_head(status, all_headers) + body)
    await writer.drain()
    return True


async def _send_json(
    writer: asyncio.StreamWriter, status: int, data: Any, headers: Mapping[str, str]
) -> bool:
    return await _send(writer, status, json.dumps(data).encode(), headers)


async def _reset(writer: asyncio.StreamWriter, body: bytes, headers: Mapping[str, str]) -> None:
    """Promise a full body, send half of it, then abort the connection with a TCP reset."""
    all_headers = {"content-type": "application/json", "content-length": str(len(body)), **headers}
    writer.write(_head(200, all_headers) + body[: len(body) // 2])
    await writer.drain()
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def _send_stream(
    writer: asyncio.StreamWriter,
    events: list[SseEvent],
    delay: float,
    headers: Mapping[str, str],
) -> bool:
    """Server-sent events in chunked encoding, `delay` seconds apart."""
    all_headers = {
        "content-type": "text/event-stream",
        "transfer-encoding": "chunked",
        "cache-control": "no-cache",
        **headers,
    }
    writer.write(_head(200, all_headers))
    for event in events:
        data = event.encode()
        writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        if delay > 0:
            await writer.drain()
            await asyncio.sleep(delay)
    writer.write(b"0\r\n\r\n")
    await writer.drain()
    return True
