"""One prompt, unchanged, through every provider adapter: OpenAI Chat Completions, OpenAI
Responses and Anthropic Messages, each over real HTTP on 127.0.0.1 through its official SDK.
Structured output is validated and re-asked, streams are read, tool calls come back, the call
is priced, and each is recorded and then replayed offline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from promptkit.core import Client, ModelConfig, StreamEnd, TextDelta, ToolCallDelta
from promptkit.replay import ReplaySession
from promptkit.templates.library import PromptLibrary
from promptkit.testing import FakeOpenAIServer, Reply, ToolCallReply

pytest.importorskip("anthropic", reason="the [anthropic] extra is not installed")

REPO = Path(__file__).resolve().parents[2]
PROVIDERS = ["openai", "openai-responses", "anthropic"]
GOOD = {"sentiment": "negative", "confidence": 0.9, "reasoning": "A complaint."}
BAD = {**GOOD, "confidence": 7}
CONTACT = {"name": "Bo Ek", "email": "bo@ek.se"}
USAGE = {"prompt_tokens": 1000, "completion_tokens": 200}


def forced_tool(body: dict[str, Any]) -> str | None:
    """The tool a request forces, in any of the three APIs' shapes."""
    choice = body.get("tool_choice")
    if not isinstance(choice, dict):
        return None
    return choice.get("name") or (choice.get("function") or {}).get("name")


def answering(*answers: Any) -> Any:
    """A handler that answers each request in turn the way it was asked: a call of the
    forced tool, else the JSON as text."""
    queue = list(answers)

    def handle(body: dict[str, Any], index: int) -> Reply:
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        tool = forced_tool(body)
        if tool is not None:
            return Reply(tool_calls=[ToolCallReply(tool, answer)], usage=USAGE, chunk_size=8)
        return Reply(content=answer, usage=USAGE, chunk_size=8)

    return handle


def config(server: FakeOpenAIServer, provider: str, **fields: Any) -> ModelConfig:
    base = server.anthropic_base_url if provider == "anthropic" else server.base_url
    values = {"name": "default", "model": "some-model", "provider": provider, "base_url": base,
              "api_key_env": "", "price_in": 3.0, "price_out": 15.0, **fields}
    return ModelConfig.model_validate(values)


@pytest.fixture
def library() -> PromptLibrary:
    return PromptLibrary(REPO / "prompts")


def wrap_public_methods(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Wrap the SDKs' public create methods the way instrumentations do; what they saw."""
    from anthropic.resources.messages import AsyncMessages
    from openai.resources.chat.completions import AsyncCompletions
    from openai.resources.responses import AsyncResponses

    seen: list[str] = []
    for owner in (AsyncCompletions, AsyncResponses, AsyncMessages):
        original = owner.create

        async def wrapped(self: Any, *args: Any, __original: Any = original,
                          __owner: type = owner, **kwargs: Any) -> Any:
            seen.append(__owner.__name__)
            return await __original(self, *args, **kwargs)

        monkeypatch.setattr(owner, "create", wrapped)
    return seen


@pytest.mark.parametrize("wrapped", [False, True], ids=["direct", "through-create"])
@pytest.mark.parametrize("provider", PROVIDERS)
def test_structured_output_is_validated_re_asked_and_priced(
    provider: str, wrapped: bool, library: PromptLibrary, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = wrap_public_methods(monkeypatch) if wrapped else []
    prompt = library.load("sentiment", "1.2.0")
    with FakeOpenAIServer() as server, Client([config(server, provider)]) as client:
        server.handler = answering(BAD, GOOD)
        result = client.call_prompt(prompt, {"text": "It broke on day two."})
        requests = [r for r in server.requests if r.protocol]
    assert result.output == GOOD
    assert [a.kind for a in result.attempts] == ["first", "reask"]
    assert "confidence" in json.dumps(requests[1].body) and "maximum" in json.dumps(
        requests[1].body)  # the validation error went back to the model
    assert result.total_usage.input_tokens == 2000 and result.total_usage.output_tokens == 400
    assert result.cost_usd == pytest.approx((2000 * 3.0 + 400 * 15.0) / 1e6)
    assert result.response_id and result.config is not None
    protocol = {"openai": "chat", "openai-responses": "responses", "anthropic": "anthropic"}
    assert {r.protocol for r in requests} == {protocol[provider]}
    assert len(seen) == (2 if wrapped else 0)  # a wrapper sees both requests


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_tool_prompt_gets_its_tool_call(provider: str, library: PromptLibrary) -> None:
    prompt = library.load("extract_contact", "1.0.0")
    with FakeOpenAIServer() as server, Client([config(server, provider)]) as client:
        server.handler = answering(CONTACT)
        result = client.call_prompt(prompt, {"text": "Mail Bo Ek at bo@ek.se"})
        body = server.requests[0].body
    assert result.output == CONTACT
    assert forced_tool(body) == "save_contact"


@pytest.mark.parametrize("wrapped", [False, True], ids=["direct", "through-create"])
@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_stream_hands_deltas_on_and_ends_with_the_validated_result(
    provider: str, wrapped: bool, library: PromptLibrary, monkeypatch: pytest.MonkeyPatch
) -> None:
    if wrapped:
        wrap_public_methods(monkeypatch)
    prompt = library.load("sentiment", "1.2.0")
    with FakeOpenAIServer() as server, Client([config(server, provider)]) as client:
        server.handler = answering(GOOD)
        events = list(client.stream_prompt(prompt, {"text": "It broke on day two."}))
    pieces = [e.text if isinstance(e, TextDelta) else e.arguments
              for e in events if isinstance(e, TextDelta | ToolCallDelta)]
    assert len(pieces) > 3 and json.loads("".join(pieces)) == GOOD
    end = events[-1]
    assert isinstance(end, StreamEnd) and end.result.output == GOOD
    assert end.result.usage.output_tokens == 200 and end.result.first_token_s is not None


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_failed_stream_is_retried_before_its_first_token(
    provider: str, library: PromptLibrary
) -> None:
    prompt = library.load("sentiment", "1.2.0")
    with FakeOpenAIServer() as server, Client([config(server, provider)]) as client:
        server.enqueue(Reply(status=529 if provider == "anthropic" else 503))
        server.handler = answering(GOOD)
        events = list(client.stream_prompt(prompt, {"text": "It broke on day two."}))
    result = events[-1].result  # type: ignore[union-attr]
    assert result.output == GOOD
    assert [a.status for a in result.attempts] == [529 if provider == "anthropic" else 503, 200]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_stream_cut_after_its_first_tokens_is_a_truncated_output(
    provider: str, library: PromptLibrary
) -> None:
    from promptkit.errors import TruncatedOutputError

    prompt = library.load("sentiment", "1.2.0")
    with FakeOpenAIServer() as server, Client([config(server, provider)]) as client:
        server.handler = lambda body, index: Reply(
            tool_calls=[ToolCallReply(forced_tool(body), GOOD)] if forced_tool(body) else (),
            content=None if forced_tool(body) else GOOD, chunk_size=4, stream_cut_after=3)
        seen: list[Any] = []
        with pytest.raises(TruncatedOutputError, match="not retried") as error:
            for event in client.stream_prompt(prompt, {"text": "It broke on day two."}):
                seen.append(event)
    assert seen and all(isinstance(e, TextDelta | ToolCallDelta) for e in seen)
    assert error.value.last_output and len(server.requests) == 1


@pytest.mark.parametrize("provider", PROVIDERS)
def test_recorded_once_then_replayed_offline(
    provider: str, library: PromptLibrary, tmp_path: Path
) -> None:
    prompt = library.load("sentiment", "1.2.0")
    variables = {"text": "It broke on day two."}
    recorder = ReplaySession(tmp_path / "fixtures", "once")
    with FakeOpenAIServer() as server:
        server.handler = answering(BAD, GOOD)
        with Client([config(server, provider)], transport=recorder.transport()) as client, \
                recorder.cassette("case.json"):
            live = client.call_prompt(prompt, variables)
        recorder.finish()
        dead = config(server, provider, base_url="http://127.0.0.1:9")
    replayer = ReplaySession(tmp_path / "fixtures")
    with Client([dead], transport=replayer.transport()) as client, replayer.cassette("case.json"):
        offline = client.call_prompt(prompt, variables)
    assert offline.output == live.output == GOOD
    assert [a.kind for a in offline.attempts] == ["first", "reask"]
    assert offline.cost_usd == live.cost_usd
    assert replayer.stats.replayed == 2


@pytest.mark.parametrize("provider", PROVIDERS)
def test_errors_are_classified_the_same_way_whatever_the_provider(
    provider: str, library: PromptLibrary
) -> None:
    from promptkit.errors import ModelAPIError

    prompt = library.load("sentiment", "1.2.0")
    with FakeOpenAIServer() as server, Client([config(server, provider)]) as client:
        server.enqueue(Reply(status=429, retry_after=0.01), Reply(status=400))
        with pytest.raises(ModelAPIError) as error:
            client.call_prompt(prompt, {"text": "x"})
    assert [a.status for a in error.value.attempts] == [429, 400]
    assert error.value.status_code == 400


@pytest.mark.parametrize("wrapped", [False, True], ids=["direct", "through-create"])
def test_an_azure_style_config_sends_deployment_path_api_version_and_api_key_header(
    wrapped: bool, library: PromptLibrary, monkeypatch: pytest.MonkeyPatch
) -> None:
    if wrapped:
        wrap_public_methods(monkeypatch)
    monkeypatch.setenv("AZURE_OPENAI_KEY", "azure-key-0123456789abcdef")
    prompt = library.load("sentiment", "1.2.0")
    with FakeOpenAIServer(api_key="azure-key-0123456789abcdef",
                          api_key_header="api-key") as server:
        server.handler = answering(GOOD)
        azure = ModelConfig(
            name="default", model="gpt-4o", api_key_env="AZURE_OPENAI_KEY",
            base_url=server.url + "/openai/deployments/sentiment-prod",
            api_key_header="api-key", query={"api-version": "2024-10-21"})
        with Client([azure]) as client:
            result = client.call_prompt(prompt, {"text": "It broke on day two."})
        (request,) = server.requests
    assert result.output == GOOD  # a wrong key or header would have been a 401
    assert request.path == ("/openai/deployments/sentiment-prod/chat/completions"
                            "?api-version=2024-10-21")
    assert request.headers["api-key"] == "azure-key-0123456789abcdef"
    assert "authorization" not in request.headers  # the key is sent once, where Azure wants it


def test_a_header_holding_a_secret_is_refused_by_the_config() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=r"looks like a credential.*api_key_header"):
        ModelConfig(model="m", headers={"api-key": "0123456789abcdef0123456789abcdef"})
    with pytest.raises(ValidationError, match="looks like a credential"):
        ModelConfig(model="m", headers={"X-Extra": "Bearer sk-abcdefghijklmnopqrstuvwx"})
    assert ModelConfig(model="m", headers={"X-Team": "search"}).headers == {"X-Team": "search"}
