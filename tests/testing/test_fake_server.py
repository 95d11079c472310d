"""The fake OpenAI server: replies, faults and streams over a real socket, as the SDK sees them."""

from __future__ import annotations

import threading
import time

import httpx2
import openai
import pytest

from promptkit.testing import FakeOpenAIServer, Reply, ToolCallReply
from promptkit.testing.fixtures import FAKE_API_KEY, fake_openai

__all__ = ["fake_openai"]

ASK = [{"role": "user", "content": "hi"}]


@pytest.fixture
def server() -> FakeOpenAIServer:
    with FakeOpenAIServer() as started:
        yield started


def sdk(server: FakeOpenAIServer, **options: object) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0, **options)  # type: ignore[arg-type]


def test_a_plain_reply_is_a_chat_completion_and_the_request_is_recorded(
    server: FakeOpenAIServer,
) -> None:
    server.enqueue(
        Reply(
            content={"a": 1},
            usage={"prompt_tokens": 5, "completion_tokens": 2, "cached_tokens": 1},
            model="m-2024",
        )
    )
    response = sdk(server).chat.completions.with_raw_response.create(
        model="m", messages=ASK, temperature=0
    )
    completion = response.parse()
    assert completion.choices[0].message.content == '{"a": 1}'
    assert completion.model == "m-2024" and completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.prompt_tokens == 5
    assert completion.usage.prompt_tokens_details.cached_tokens == 1
    assert response.headers["x-request-id"] == "req_000000"
    (request,) = server.requests
    assert request.body == {"model": "m", "messages": ASK, "temperature": 0}
    assert request.headers["authorization"] == "Bearer sk-test"
    assert request.path == "/v1/chat/completions" and not request.fault


def test_queue_then_handler_then_default(server: FakeOpenAIServer) -> None:
    server.default = Reply(content="default")
    server.handler = lambda body, index: Reply(content=f"handled {index}") if index < 3 else None
    server.enqueue(Reply(content="queued"))
    client = sdk(server)
    texts = [
        client.chat.completions.create(model="m", messages=ASK).choices[0].message.content
        for _ in range(4)
    ]
    assert texts == ["queued", "handled 1", "handled 2", "default"]


def test_tool_calls_and_refusals(server: FakeOpenAIServer) -> None:
    server.enqueue(
        Reply(tool_calls=[ToolCallReply("f", {"x": 1}), ToolCallReply("g", "{bad")]),
        Reply(refusal="no"),
    )
    client = sdk(server)
    message = client.chat.completions.create(model="m", messages=ASK).choices[0].message
    assert message.content is None and message.tool_calls is not None
    assert [(c.id, c.function.name, c.function.arguments) for c in message.tool_calls] == [
        ("call_0", "f", '{"x": 1}'),
        ("call_1", "g", "{bad"),
    ]
    refused = client.chat.completions.create(model="m", messages=ASK).choices[0]
    assert (refused.message.refusal, refused.message.content) == ("no", None)


def test_status_replies_carry_retry_after_and_the_error_code(server: FakeOpenAIServer) -> None:
    server.enqueue(Reply(status=429, retry_after=0.1, error_code="rate_limit_exceeded"))
    with pytest.raises(openai.RateLimitError) as caught:
        sdk(server).chat.completions.create(model="m", messages=ASK)
    assert caught.value.response.headers["retry-after"] == "0.1"
    assert caught.value.code == "rate_limit_exceeded" and caught.value.request_id == "req_000000"


def test_malformed_reset_and_the_sdks_view_of_them(server: FakeOpenAIServer) -> None:
    server.enqueue(Reply(malformed=True), Reply(reset=True))
    client = sdk(server)
    with pytest.raises(ValueError):  # json.JSONDecodeError: the SDK does not retry it
        client.chat.completions.create(model="m", messages=ASK)
    with pytest.raises(openai.APIConnectionError):
        client.chat.completions.create(model="m", messages=ASK)
    assert (
        client.chat.completions.create(model="m", messages=ASK).choices[0].message.content == "ok"
    )


def test_a_hang_blocks_only_its_own_request(server: FakeOpenAIServer) -> None:
    server.enqueue(Reply(hang=True))
    client = sdk(server, timeout=0.3)
    hung: list[BaseException] = []
    thread = threading.Thread(target=lambda: _capture(hung, client))
    thread.start()
    time.sleep(0.05)
    started = time.monotonic()
    assert (
        client.chat.completions.create(model="m", messages=ASK).choices[0].message.content == "ok"
    )
    assert time.monotonic() - started < 0.25
    thread.join()
    assert isinstance(hung[0], openai.APITimeoutError)


def _capture(errors: list[BaseException], client: openai.OpenAI) -> None:
    try:
        client.chat.completions.create(model="m", messages=ASK)
    except BaseException as exc:
        errors.append(exc)


def test_latency_is_applied(server: FakeOpenAIServer) -> None:
    server.enqueue(Reply(latency=0.2))
    started = time.monotonic()
    sdk(server).chat.completions.create(model="m", messages=ASK)
    assert time.monotonic() - started >= 0.2


def test_stream_with_usage_chunk(server: FakeOpenAIServer) -> None:
    server.enqueue(Reply(content="hello streaming world", chunk_size=5))
    stream = sdk(server).chat.completions.create(
        model="m", messages=ASK, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "hello streaming world"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None


def test_stream_cut_short_ends_silently_without_finish_reason(server: FakeOpenAIServer) -> None:
    server.enqueue(Reply(content="hello streaming world", chunk_size=5, stream_cut_after=3))
    stream = sdk(server).chat.completions.create(model="m", messages=ASK, stream=True)
    chunks = list(stream)
    assert len(chunks) == 3
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "hello stre"
    assert all(c.choices[0].finish_reason is None for c in chunks)


def test_streamed_tool_call_arguments_add_up(server: FakeOpenAIServer) -> None:
    server.enqueue(Reply(tool_calls=[ToolCallReply("f", {"city": "Paris"})], chunk_size=4))
    stream = sdk(server).chat.completions.create(model="m", messages=ASK, stream=True)
    pieces = [c.choices[0].delta.tool_calls for c in stream if c.choices[0].delta.tool_calls]
    assert pieces[0][0].function.name == "f"
    assert "".join(p[0].function.arguments or "" for p in pieces) == '{"city": "Paris"}'


def test_fault_rate_is_seeded_and_roughly_right() -> None:
    def faults(seed: int) -> list[bool]:
        with FakeOpenAIServer(fault_rate=0.3, seed=seed, faults=[Reply(status=503)]) as server:
            with httpx2.Client() as http:
                for _ in range(120):
                    http.post(f"{server.base_url}/chat/completions", json={"messages": []})
            return [r.fault for r in server.requests]

    first = faults(7)
    assert first == faults(7) and first != faults(8)
    assert 0.2 < sum(first) / len(first) < 0.4


def test_api_key_check_and_other_routes(server: FakeOpenAIServer) -> None:
    server.api_key = "sk-right"
    with pytest.raises(openai.AuthenticationError):
        sdk(server).chat.completions.create(model="m", messages=ASK)
    with httpx2.Client(headers={"authorization": "Bearer sk-right"}) as http:
        models = http.get(f"{server.base_url}/models").json()
        assert models["data"][0]["id"] == "fake-model"
        assert http.get(f"{server.url}/elsewhere").status_code == 404


def test_the_fixture_points_the_sdk_environment_at_the_server(
    fake_openai: FakeOpenAIServer,
) -> None:
    fake_openai.enqueue(Reply(content="from the fixture"))
    client = openai.OpenAI()
    reply = client.chat.completions.create(model="m", messages=ASK)
    assert reply.choices[0].message.content == "from the fixture"
    assert fake_openai.requests[0].headers["authorization"] == f"Bearer {FAKE_API_KEY}"


def test_stop_cuts_a_hang_and_frees_the_port() -> None:
    server = FakeOpenAIServer(default=Reply(hang=True)).start()
    client = sdk(server, timeout=5)
    errors: list[BaseException] = []
    thread = threading.Thread(target=lambda: _capture(errors, client))
    thread.start()
    time.sleep(0.1)
    started = time.monotonic()
    server.stop()
    thread.join(timeout=5)
    assert time.monotonic() - started < 2 and errors


def test_one_keep_alive_connection_carries_a_thousand_requests(server: FakeOpenAIServer) -> None:
    """HTTP/1.1 keep-alive, one write per reply: the figure printed is about 2000-5000/s here."""
    import json
    import socket

    body = json.dumps({"model": "m", "messages": ASK}).encode()
    request = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (
        len(body),
        body,
    )
    statuses = []
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        stream = sock.makefile("rb")
        started = time.monotonic()
        for _ in range(1000):
            sock.sendall(request)
            statuses.append(stream.readline().split()[1])
            length = 0
            while (line := stream.readline()) != b"\r\n":
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            assert json.loads(stream.read(length))["object"] == "chat.completion"
        rate = 1000 / (time.monotonic() - started)
    print(f"\nfake server: {rate:.0f} requests/s over one keep-alive connection")
    assert statuses == [b"200"] * 1000 and len(server.chat_requests) == 1000
