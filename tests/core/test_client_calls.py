"""Calls through the public clients against the fake server: retries, errors, fallback, configs."""

from __future__ import annotations

import json
import time
import warnings
from concurrent.futures import ThreadPoolExecutor

import httpx2
import pytest

from promptkit.core import (
    AsyncClient,
    CallRecord,
    CircuitBreaker,
    Client,
    ModelConfig,
    OutputSpec,
    RetryPolicy,
    RoundContext,
)
from promptkit.errors import (
    BudgetExceededError,
    CircuitOpenError,
    ConfigError,
    DeadlineExceededError,
    ModelAPIError,
    RefusalError,
    RetriesExhaustedError,
    TruncatedOutputError,
    UsageError,
)
from promptkit.testing import FakeOpenAIServer, Reply
from tests.core.conftest import ADA, ASK, FAST, PERSON, config_for

SCHEMA = OutputSpec(mode="json_schema", schema=PERSON)


def test_text_call_returns_the_text_and_the_effective_request(
    server: FakeOpenAIServer, config: ModelConfig
) -> None:
    server.enqueue(Reply(content="Hello.", usage={"prompt_tokens": 11, "completion_tokens": 2}))
    with Client([config]) as client:
        result = client.call(
            ASK,
            config="main",
            temperature=0.3,
            max_tokens=40,
            extra={"seed": 7},
            metadata={"prompt": "greet@1.0.0"},
        )
    assert (result.output, result.text, result.finish_reason) == ("Hello.", "Hello.", "stop")
    assert (result.usage.input_tokens, result.usage.output_tokens) == (11, 2)
    assert result.request == {"model": "fake-main", "temperature": 0.3, "max_tokens": 40, "seed": 7}
    sent = server.chat_requests[0].body
    assert (sent["temperature"], sent["max_tokens"], sent["seed"]) == (0.3, 40, 7)
    assert result.request_id == "req_000000" and result.config_name == "main"
    assert result.metadata == {"prompt": "greet@1.0.0"}


def test_config_settings_apply_when_the_call_gives_none(server: FakeOpenAIServer) -> None:
    config = config_for(server, temperature=0.0, max_tokens=99)
    with Client({"main": config}) as client:
        client.call(ASK, config="main")
    assert server.chat_requests[0].body["temperature"] == 0.0
    assert server.chat_requests[0].body["max_tokens"] == 99


@pytest.mark.parametrize(
    ("reply", "error_type"),
    [
        (Reply(status=400, error_code="context_length_exceeded"), "BadRequestError"),
        (Reply(status=403), "PermissionDeniedError"),
        (Reply(status=404, error_code="model_not_found"), "NotFoundError"),
        (Reply(status=422), "UnprocessableEntityError"),
        (Reply(status=429, error_code="insufficient_quota"), "RateLimitError"),
    ],
)
def test_errors_no_attempt_can_fix_are_sent_once(
    server: FakeOpenAIServer, reply: Reply, error_type: str
) -> None:
    """promptkit does not retry them (3 attempts allowed here), and the SDK never retries."""
    server.default = reply
    with (
        Client([config_for(server)], retry=FAST) as client,
        pytest.raises(ModelAPIError) as caught,
    ):
        client.call(ASK, config="main")
    assert len(server.chat_requests) == 1
    assert caught.value.status_code == reply.status
    assert caught.value.request_id == "req_000000"
    assert [(a.error_type, a.error_code) for a in caught.value.attempts] == [
        (error_type, reply.error_code)
    ]


async def test_retries_are_recorded_with_their_waits(server: FakeOpenAIServer) -> None:
    server.enqueue(
        Reply(status=503),
        Reply(status=429, headers={"retry-after-ms": "250"}),
        Reply(content="fine"),
    )
    async with AsyncClient([config_for(server)]) as client:
        result = await client.call(ASK, config="main")
    assert [(a.kind, a.status) for a in result.attempts] == [
        ("first", 503),
        ("retry", 429),
        ("retry", 200),
    ]
    assert len(server.chat_requests) == 3, "one request per attempt"
    assert result.attempts[1].wait_s < 0.2, "the default backoff: uniform(0, 0.05 s)"
    assert 0.24 <= result.attempts[2].wait_s < 0.5, "retry-after-ms honoured"


def test_malformed_body_is_retried_by_promptkit_with_backoff(server: FakeOpenAIServer) -> None:
    server.enqueue(Reply(malformed=True), Reply(malformed=True), Reply(content="fine"))
    with Client([config_for(server)], retry=FAST) as client:
        result = client.call(ASK, config="main")
    assert [(a.kind, a.error_type) for a in result.attempts] == [
        ("first", "MalformedResponse"),
        ("retry", "MalformedResponse"),
        ("retry", None),
    ]
    assert all(0 <= a.wait_s < 0.2 for a in result.attempts)


def test_transient_failures_exhaust_into_retries_exhausted(server: FakeOpenAIServer) -> None:
    server.default = Reply(status=500)
    with (
        Client([config_for(server)], retry=FAST) as client,
        pytest.raises(RetriesExhaustedError) as caught,
    ):
        client.call(ASK, config="main")
    assert len(server.chat_requests) == 3
    assert [a.kind for a in caught.value.attempts] == ["first", "retry", "retry"]
    assert "InternalServerError" in str(caught.value)


def test_connection_refused_is_transient() -> None:
    with FakeOpenAIServer() as gone:
        config = config_for(gone)
    with Client([config], retry=FAST) as client, pytest.raises(RetriesExhaustedError) as caught:
        client.call(ASK, config="main")
    assert {a.error_type for a in caught.value.attempts} == {"ConnectError"}


def test_per_attempt_timeout_cuts_a_hang_and_retries(server: FakeOpenAIServer) -> None:
    server.enqueue(Reply(hang=True))
    with Client([config_for(server, timeout_s=0.2)], retry=FAST) as client:
        result = client.call(ASK, config="main")
    assert result.output == "ok"
    assert result.attempts[0].error_type == "ReadTimeout"
    assert 0.15 < result.attempts[0].duration_s < 1.0


def test_no_sleep_into_a_deadline_the_next_attempt_cannot_meet(server: FakeOpenAIServer) -> None:
    server.default = Reply(status=503, retry_after=5)
    with Client([config_for(server)]) as client:
        started = time.monotonic()
        with pytest.raises(DeadlineExceededError, match="wait before the next attempt"):
            client.call(ASK, config="main", deadline_s=2)
    assert time.monotonic() - started < 1.0
    assert len(server.chat_requests) == 1


async def test_an_injected_transport_carries_the_requests_and_they_are_recorded() -> None:
    """The seam replay uses: any httpx2 transport under the SDK, attempts still logged."""
    seen: list[dict[str, object]] = []

    def answer(request: httpx2.Request) -> httpx2.Response:
        seen.append(json.loads(request.content))
        body = {
            "id": "c1",
            "object": "chat.completion",
            "created": 0,
            "model": "m",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": "mocked"},
                }
            ],
        }
        return httpx2.Response(200, json=body, headers={"x-request-id": "req_mock"})

    config = ModelConfig(name="main", model="m", base_url="http://mock.invalid/v1", api_key_env="")
    async with AsyncClient([config], transport=httpx2.MockTransport(answer)) as client:
        result = await client.call(ASK, config="main")
    assert result.output == "mocked" and seen[0]["messages"] == ASK
    assert [(a.status, a.request_id) for a in result.attempts] == [(200, "req_mock")]


def test_fallback_takes_over_when_the_primary_is_down() -> None:
    with FakeOpenAIServer(default=Reply(status=503)) as down, FakeOpenAIServer() as up:
        primary = config_for(down, "primary", fallback=("backup",))
        configs = {"primary": primary, "backup": config_for(up, "backup")}
        with Client(configs, retry=FAST) as client:
            result = client.call(ASK, config="primary")
    assert result.config_name == "backup" and result.model == "fake-backup"
    assert [(a.config_name, a.kind) for a in result.attempts] == [
        ("primary", "first"),
        ("primary", "retry"),
        ("primary", "retry"),
        ("backup", "fallback"),
    ]


def test_refusal_is_its_own_error_and_not_retried(server: FakeOpenAIServer) -> None:
    server.default = Reply(refusal="I can't help with that.")
    with Client([config_for(server)]) as client, pytest.raises(RefusalError) as caught:
        client.call(ASK, config="main", output=SCHEMA)
    assert len(server.chat_requests) == 1
    assert caught.value.last_output == "I can't help with that."


def test_length_finish_is_truncation_never_reasked(server: FakeOpenAIServer) -> None:
    server.default = Reply(content='{"name": "Ad', finish_reason="length")
    with Client([config_for(server)]) as client, pytest.raises(TruncatedOutputError) as caught:
        client.call(ASK, config="main", output=SCHEMA, max_tokens=5)
    assert len(server.chat_requests) == 1
    assert "raise max_tokens above 5" in str(caught.value)
    assert caught.value.last_output == '{"name": "Ad'
    assert caught.value.usage.output_tokens > 0


def test_circuit_opens_fails_fast_then_one_probe_closes_it(server: FakeOpenAIServer) -> None:
    now = [0.0]
    breaker = CircuitBreaker(failure_threshold=2, cooldown_s=30, clock=lambda: now[0])
    server.default = Reply(status=500)
    one_try = RetryPolicy(max_attempts=1)
    with Client([config_for(server)], retry=one_try, breaker=breaker) as client:
        for _ in range(2):
            with pytest.raises(RetriesExhaustedError):
                client.call(ASK, config="main")
        with pytest.raises(CircuitOpenError) as caught:
            client.call(ASK, config="main")
        assert len(server.chat_requests) == 2, "failed fast, nothing sent"
        assert caught.value.attempts[0].error_type == "CircuitOpenError"
        now[0] = 31.0
        server.default = Reply(content="back")
        assert client.call(ASK, config="main").output == "back"
        assert breaker.state(("" + server.base_url, "fake-main")) == "closed"


def test_open_circuit_sends_the_call_to_the_fallback() -> None:
    breaker = CircuitBreaker(failure_threshold=1)
    with FakeOpenAIServer(default=Reply(status=500)) as down, FakeOpenAIServer() as up:
        configs = [config_for(down, "primary", fallback=("backup",)), config_for(up, "backup")]
        with Client(configs, retry=RetryPolicy(max_attempts=1), breaker=breaker) as client:
            assert client.call(ASK, config="primary").config_name == "backup"
            result = client.call(ASK, config="primary")
    assert len(down.chat_requests) == 1
    assert [(a.config_name, a.error_type) for a in result.attempts] == [
        ("primary", "CircuitOpenError"),
        ("backup", None),
    ]


class Recorder:
    def __init__(self, refuse_after: int | None = None, fail_after_call: bool = False) -> None:
        self.contexts: list[RoundContext] = []
        self.records: list[CallRecord] = []
        self.refuse_after = refuse_after
        self.fail_after_call = fail_after_call

    def before_round(self, context: RoundContext) -> None:
        self.contexts.append(context)
        if self.refuse_after is not None and context.number >= self.refuse_after:
            raise BudgetExceededError("over budget")

    def after_call(self, record: CallRecord) -> None:
        self.records.append(record)
        if self.fail_after_call:
            raise RuntimeError("log sink down")


def test_before_attempt_can_stop_a_call_before_it_spends(server: FakeOpenAIServer) -> None:
    server.enqueue(Reply(content={"name": "Ada"}))
    hooks = Recorder(refuse_after=1)
    with (
        Client([config_for(server)], hooks=[hooks]) as client,
        pytest.raises(BudgetExceededError) as caught,
    ):
        client.call(ASK, config="main", output=SCHEMA, metadata={"run": 1})
    assert len(server.chat_requests) == 1, "the re-ask was refused before it was sent"
    assert [c.kind for c in hooks.contexts] == ["first", "reask"]
    assert hooks.contexts[1].spent.total_tokens > 0
    assert hooks.contexts[0].request["response_format"]["type"] == "json_schema"
    assert len(caught.value.attempts) == 1 and caught.value.usage.total_tokens > 0
    assert hooks.records[-1].error is caught.value and hooks.records[-1].metadata == {"run": 1}


def test_a_failing_observer_warns_and_never_fails_the_call(server: FakeOpenAIServer) -> None:
    hooks = Recorder(fail_after_call=True)
    with (
        Client([config_for(server)], hooks=[hooks]) as client,
        pytest.warns(RuntimeWarning, match="after_call failed"),
    ):
        result = client.call(ASK, config="main")
    assert result.output == "ok"
    assert hooks.records[0].ok and hooks.records[0].result is result


def test_config_names_resolve_through_a_mapping_a_function_or_a_list(
    server: FakeOpenAIServer,
) -> None:
    config = config_for(server)
    with Client(lambda name: config) as client:
        assert client.call(ASK, config="whatever").config_name == "whatever"
    with Client([config]) as client, pytest.raises(ConfigError, match="known: main"):
        client.call(ASK, config="missing")
    with (
        Client([config_for(server, fallback=("nope",))]) as client,
        pytest.raises(ConfigError, match="'nope'"),
    ):
        client.call(ASK, config="main")
    assert len(server.requests) == 1


def test_api_key_comes_from_the_named_environment_variable(
    server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.api_key = "sk-team"
    config = config_for(server, api_key_env="TEAM_LLM_KEY")
    monkeypatch.delenv("TEAM_LLM_KEY", raising=False)
    with Client([config]) as client:
        with pytest.raises(ConfigError, match="TEAM_LLM_KEY"):
            client.call(ASK, config="main")
        monkeypatch.setenv("TEAM_LLM_KEY", "sk-team")
        assert client.call(ASK, config="main").output == "ok"
    assert server.requests[0].headers["authorization"] == "Bearer sk-team"


def test_default_endpoint_is_the_sdks_own_environment(fake_openai: FakeOpenAIServer) -> None:
    """No base_url, default key variable: OPENAI_BASE_URL / OPENAI_API_KEY (set by the fixture)."""
    with Client([ModelConfig(name="default", model="any-model")]) as client:
        assert client.call(ASK).output == "ok"
    assert fake_openai.chat_requests[0].body["model"] == "any-model"


@pytest.mark.parametrize(
    ("messages", "match"),
    [("hello", "list"), ([], "empty"), ([{"content": "x"}], "role")],
)
def test_bad_messages_are_usage_errors(config: ModelConfig, messages: object, match: str) -> None:
    with Client([config]) as client, pytest.raises(UsageError, match=match):
        client.call(messages, config="main")  # type: ignore[arg-type]


def test_bad_arguments_are_usage_errors(config: ModelConfig) -> None:
    with Client([config]) as client:
        with pytest.raises(UsageError, match="not valid JSON Schema"):
            client.call(
                ASK, config=config, output=OutputSpec(mode="json_schema", schema={"type": "nope"})
            )
        with pytest.raises(UsageError, match="needs a schema"):
            client.call(ASK, config=config, output=OutputSpec(mode="json_schema"))
        with pytest.raises(UsageError, match="deadline_s"):
            client.call(ASK, config=config, deadline_s=0)


def test_sync_client_serves_many_threads_at_once(server: FakeOpenAIServer) -> None:
    server.default = Reply(content=ADA)
    with Client([config_for(server)]) as client, ThreadPoolExecutor(8) as pool:
        outputs = list(
            pool.map(lambda _: client.call(ASK, config="main", output=SCHEMA).output, range(80))
        )
    assert outputs == [ADA] * 80
    assert len({r.index for r in server.chat_requests}) == 80


def test_no_warning_or_thread_left_after_close(server: FakeOpenAIServer) -> None:
    import threading

    before = {t.name for t in threading.enumerate()}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        client = Client([config_for(server)])
        client.call(ASK, config="main")
        client.close()
    assert "promptkit-loop" not in {t.name for t in threading.enumerate()} - before
