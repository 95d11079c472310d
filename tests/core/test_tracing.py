"""Spans that join the application's trace: opened when the call starts, as a child of the
caller's current span, with the GenAI conventions' attributes; retries as events; and an
instrumentation wrapping the SDK's `chat.completions.create` sees every call."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from promptkit.core import AsyncClient, Client, ModelConfig
from promptkit.errors import ModelAPIError
from promptkit.templates import parse_prompt
from promptkit.testing import FakeOpenAIServer, Reply
from tests.support import fast_retries

sdk_trace = pytest.importorskip("opentelemetry.sdk.trace", reason="opentelemetry-sdk missing")
from opentelemetry import trace  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)

PROMPT = parse_prompt("""\
---
name: greet
version: 1.0.0
model: main
temperature: 0.5
max_tokens: 64
inputs: {who: string}
---
user:
Say hi to {{ who }}.
""")
USAGE = {"prompt_tokens": 12, "completion_tokens": 3, "cached_tokens": 4}


@pytest.fixture
def spans() -> Iterator[tuple[Any, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = sdk_trace.TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


def config(server: FakeOpenAIServer, **fields: Any) -> ModelConfig:
    values = {"name": "main", "model": "gpt-4o-mini", "base_url": server.base_url,
              "api_key_env": "", **fields}
    return ModelConfig.model_validate(values)


def tracer_hooks(provider: Any) -> list[Any]:
    from promptkit.core import Tracing

    return [Tracing(provider)]


def test_the_call_span_is_a_child_of_the_callers_span_with_genai_attributes(
    spans: tuple[Any, InMemorySpanExporter],
) -> None:
    provider, exporter = spans
    app = provider.get_tracer("app")
    with FakeOpenAIServer() as server:
        server.enqueue(Reply(status=503), Reply(content="hi", usage=USAGE, model="gpt-4o-mini-2"))
        with Client([config(server)], hooks=tracer_hooks(provider), retry=fast_retries()) as client, \
                app.start_as_current_span("handle request") as parent:
            result = client.call_prompt(PROMPT, {"who": "Ada"})
    (call,) = [s for s in exporter.get_finished_spans() if s.name.startswith("chat")]
    assert call.name == "chat gpt-4o-mini" and call.kind == trace.SpanKind.CLIENT
    assert call.parent is not None and call.parent.span_id == parent.get_span_context().span_id
    assert call.context.trace_id == parent.get_span_context().trace_id
    attributes = dict(call.attributes or {})
    assert {k: attributes.get(k) for k in (
        "gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.request.model",
        "gen_ai.request.temperature", "gen_ai.request.max_tokens", "gen_ai.response.model",
        "gen_ai.response.id", "gen_ai.response.finish_reasons", "gen_ai.usage.input_tokens",
        "gen_ai.usage.output_tokens", "gen_ai.usage.cache_read.input_tokens", "server.address",
        "promptkit.prompt.name", "promptkit.prompt.version", "promptkit.prompt.content_hash",
        "promptkit.attempts")} == {
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini", "gen_ai.request.temperature": 0.5,
        "gen_ai.request.max_tokens": 64, "gen_ai.response.model": "gpt-4o-mini-2",
        "gen_ai.response.id": result.response_id, "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.usage.input_tokens": 12, "gen_ai.usage.output_tokens": 3,
        "gen_ai.usage.cache_read.input_tokens": 4, "server.address": "127.0.0.1",
        "promptkit.prompt.name": "greet", "promptkit.prompt.version": "1.0.0",
        "promptkit.prompt.content_hash": PROMPT.content_hash, "promptkit.attempts": 2}
    assert result.response_id and result.response_id.startswith("chatcmpl")
    assert result.response_id != result.request_id  # the provider's id, not the HTTP one
    events = [(e.name, dict(e.attributes or {})) for e in call.events]
    assert [(n, a["http.response.status_code"], a["promptkit.attempt.kind"])
            for n, a in events] == [("promptkit.attempt", 503, "first"),
                                    ("promptkit.attempt", 200, "retry")]
    assert call.start_time is not None and call.end_time is not None
    assert parent.start_time <= call.start_time <= call.end_time  # type: ignore[attr-defined]


def test_an_async_call_joins_the_current_span_and_a_failure_is_an_error_span(
    spans: tuple[Any, InMemorySpanExporter],
) -> None:
    provider, exporter = spans

    async def main(server: FakeOpenAIServer) -> int:
        async with AsyncClient([config(server)], hooks=tracer_hooks(provider)) as client:
            span = provider.get_tracer("app").start_as_current_span("job")
            with span as parent, pytest.raises(ModelAPIError):
                await client.call([{"role": "user", "content": "x"}], config="main")
            return parent.get_span_context().span_id

    with FakeOpenAIServer([Reply(status=400)]) as server:
        parent_id = asyncio.run(main(server))
    (call,) = [s for s in exporter.get_finished_spans() if s.name.startswith("chat")]
    assert call.parent is not None and call.parent.span_id == parent_id
    assert call.status.status_code == trace.StatusCode.ERROR
    assert dict(call.attributes or {})["error.type"] == "ModelAPIError"


def test_a_stream_marks_its_first_token_and_anthropic_names_its_provider(
    spans: tuple[Any, InMemorySpanExporter],
) -> None:
    pytest.importorskip("anthropic")
    provider, exporter = spans
    with FakeOpenAIServer(default=Reply(content="hello there", chunk_size=3)) as server:
        claude = ModelConfig(name="main", model="claude-x", provider="anthropic",
                             base_url=server.anthropic_base_url, api_key_env="")
        with Client([claude], hooks=tracer_hooks(provider)) as client:
            events = list(client.stream([{"role": "user", "content": "hi"}], config="main"))
    (call,) = exporter.get_finished_spans()
    attributes = dict(call.attributes or {})
    assert attributes["gen_ai.provider.name"] == "anthropic"
    assert str(attributes["gen_ai.response.id"]).startswith("msg_")
    assert [e.name for e in call.events] == ["promptkit.first_token"]
    assert len(events) > 2


def test_tracing_is_on_by_default_and_off_on_request(
    spans: tuple[Any, InMemorySpanExporter], monkeypatch: pytest.MonkeyPatch,
) -> None:
    provider, exporter = spans
    monkeypatch.setattr(trace, "get_tracer", lambda *a, **k: provider.get_tracer("promptkit"))
    with FakeOpenAIServer() as server:
        with Client([config(server)]) as client:
            client.call([{"role": "user", "content": "x"}], config="main")
        with Client([config(server)], tracing=False) as client:
            client.call([{"role": "user", "content": "x"}], config="main")
    assert len(exporter.get_finished_spans()) == 1


def test_a_wrapper_on_chat_completions_create_sees_every_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The way SDK instrumentations (opentelemetry-instrumentation-openai-v2, OpenLLMetry)
    hook in: the class's `create` replaced by a wrapper."""
    from openai.resources.chat.completions import AsyncCompletions

    seen: list[str] = []
    original = AsyncCompletions.create

    async def wrapped(self: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs["model"])
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(AsyncCompletions, "create", wrapped)
    with FakeOpenAIServer() as server, Client([config(server)]) as client:
        for _ in range(3):
            client.call([{"role": "user", "content": "x"}], config="main")
        list(client.stream([{"role": "user", "content": "x"}], config="main"))
    assert seen == ["gpt-4o-mini"] * 4


CALL_WITHOUT_OTEL = """
import sys
sys.modules["opentelemetry"] = None  # as if opentelemetry-api were not installed
from promptkit.core import CallLog, Client, JSONLSink, ModelConfig
log = CallLog([JSONLSink(sys.argv[2])], handle_sigterm=False)
config = ModelConfig(name="main", model="m", base_url=sys.argv[1], api_key_env="")
with Client([config], hooks=[log]) as client:
    print(client.call([{"role": "user", "content": "x"}], config="main").text)
log.close()
"""


def test_calls_and_the_call_log_work_without_opentelemetry(tmp_path: Any) -> None:
    with FakeOpenAIServer(default=Reply(content="fine")) as server:
        done = subprocess.run([sys.executable, "-c", CALL_WITHOUT_OTEL, server.base_url,
                               str(tmp_path / "calls.jsonl")], capture_output=True, text=True,
                              timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "fine"
    assert len((tmp_path / "calls.jsonl").read_text().splitlines()) == 1
