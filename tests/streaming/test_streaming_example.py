"""The streaming example app, served on 127.0.0.1 and read with a real HTTP client (httpx2),
with the fake server as its model: events arrive as the model produces them."""

from __future__ import annotations

import importlib.util
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx2
import pytest

from promptkit.core import Client
from promptkit.testing import FakeOpenAIServer, Reply

from .conftest import config_for
from .sse_helpers import parse_frame, texts

APP = Path(__file__).resolve().parents[2] / "examples" / "streaming" / "app.py"
ANSWER = "Rayleigh scattering: short blue waves scatter most, so the sky looks blue."
CHUNK, DELAY = 6, 0.04


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("streaming_example_app", APP)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def model() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(default=Reply(content=ANSWER, chunk_size=CHUNK,
                                        chunk_delay=DELAY)) as server:  # fmt: skip
        yield server


@pytest.fixture
def app_url(model: FakeOpenAIServer) -> Iterator[str]:
    example = load_example()
    with Client([config_for(model, name="default")]) as client:
        server = example.serve(example.make_app(client), port=0)
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_port}"
        finally:
            server.shutdown()
            server.server_close()


def read_events(url: str) -> tuple[httpx2.Response, list[tuple[float, str, Any]], float]:
    """GET an event stream; each event with the time it arrived, and the time to first byte."""
    events: list[tuple[float, str, Any]] = []
    buffer, first_byte = b"", 0.0
    with httpx2.Client(timeout=10) as http:
        sent = time.perf_counter()
        with http.stream("GET", url) as response:
            for chunk in response.iter_raw():
                now = time.perf_counter()
                first_byte = first_byte or now - sent
                buffer += chunk
                while b"\n\n" in buffer:
                    block, buffer = buffer.split(b"\n\n", 1)
                    events.append((now - sent, *parse_frame(block.decode())))
    return response, events, first_byte


def test_the_example_streams_events_to_a_real_http_client(app_url: str) -> None:
    """Must show: the streaming example passes with a real HTTP client."""
    _, _, cold = read_events(f"{app_url}/chat?q=warm+up")  # the first call sets up the SDK
    response, events, ttfb = read_events(f"{app_url}/chat?q=why+is+the+sky+blue")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    names = [name for _, name, _ in events]
    deltas = -(-len(ANSWER) // CHUNK)
    assert names == ["delta"] * deltas + ["done"]
    assert texts([(name, data) for _, name, data in events]) == ANSWER
    done = events[-1][2]
    assert done["output"] == ANSWER and done["usage"]["output_tokens"] > 0
    first_delta, last_delta = events[0][0], events[-2][0]
    # The model spends DELAY between chunks; a buffered response would deliver every
    # delta at once. Half the model's own spacing is a generous margin.
    assert last_delta - first_delta > 0.5 * DELAY * (deltas - 1)
    assert ttfb <= first_delta + 0.05
    print(f"\ntime to first byte {ttfb * 1000:.0f} ms (cold {cold * 1000:.0f} ms); last delta at "
          f"{last_delta * 1000:.0f} ms; first token {done['first_token_s'] * 1000:.0f} ms in the "
          f"core; the model waits {DELAY * 1000:.0f} ms per chunk")  # fmt: skip


def test_a_cut_stream_reaches_the_client_as_an_error_event(
    app_url: str, model: FakeOpenAIServer
) -> None:
    """Must show: a stream cut before its finish_reason raises (here: an `error` event)."""
    model.enqueue(Reply(content=ANSWER, chunk_size=CHUNK, stream_cut_after=4))
    _, events, _ = read_events(f"{app_url}/chat?q=hello")
    names = [name for _, name, _ in events]
    assert names == ["delta", "delta", "delta", "error"]
    error = events[-1][2]
    assert error["type"] == "TruncatedOutputError"
    assert "without a finish_reason" in error["message"]


def test_the_page_and_bad_requests(app_url: str) -> None:
    with httpx2.Client(timeout=5) as http:
        page = http.get(f"{app_url}/")
        assert page.status_code == 200 and "EventSource" in page.text
        assert http.get(f"{app_url}/chat").status_code == 400
        assert http.get(f"{app_url}/nowhere").status_code == 404
