"""What llama.cpp's server needs from the core, checked on the request bodies a fake server
receives: JSON mode constrained by the schema (`json_object_schema`), and tool re-asks whose
assistant turn carries `content: ""` (the server answers `null` with HTTP 500)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from promptkit.core import Client, ModelConfig, OutputSpec, RetryPolicy, ToolSpec
from promptkit.core.providers.openai_chat import output_params
from promptkit.core.structured import plan_output
from promptkit.errors import OutputValidationError
from promptkit.testing import FakeOpenAIServer, Reply, ToolCallReply

FAST = RetryPolicy(max_attempts=3, backoff_base_s=0.01, backoff_cap_s=0.05)
LABEL = {
    "type": "object",
    "additionalProperties": False,
    "required": ["label", "confidence"],
    "properties": {
        "label": {"type": "string", "enum": ["positive", "negative"]},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
    },
}
ASK = [{"role": "system", "content": "Label the review."}, {"role": "user", "content": "I love it"}]
SCHEMA = OutputSpec(mode="json_schema", schema=LABEL)
TOOL = OutputSpec(mode="tool", tool=ToolSpec(name="save_label", description="Save the label.",
                                             parameters=LABEL))
GOOD = {"label": "positive", "confidence": 0.9}


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as started:
        yield started


def config(server: FakeOpenAIServer, capability: str) -> ModelConfig:
    return ModelConfig.model_validate({
        "name": "main", "model": "fake-llama", "base_url": server.base_url, "api_key_env": "",
        "capability": capability,
    })


def test_json_object_schema_sends_the_schema_in_the_response_format_not_the_prompt(
    server: FakeOpenAIServer,
) -> None:
    server.default = Reply(content=GOOD)
    with Client([config(server, "json_object_schema")]) as client:
        assert client.call(ASK, config="main", output=SCHEMA).output == GOOD
    body = server.chat_requests[0].body
    assert body["response_format"] == {"type": "json_object", "schema": LABEL}
    assert body["messages"] == ASK, "the grammar enforces the schema: the prompt is unchanged"
    assert "tools" not in body and "tool_choice" not in body


def test_json_object_schema_output_is_still_validated_and_reasked(
    server: FakeOpenAIServer,
) -> None:
    """llama.cpp's grammar ignores numeric bounds: SmolLM2 answered confidence 10.5 under it."""
    server.enqueue(Reply(content={"label": "positive", "confidence": 10.5}), Reply(content=GOOD))
    with Client([config(server, "json_object_schema")], retry=FAST) as client:
        result = client.call(ASK, config="main", output=SCHEMA)
    assert result.output == GOOD and len(result.attempts) == 2
    first, second = (r.body for r in server.chat_requests)
    assert second["response_format"] == first["response_format"]
    assistant, user = second["messages"][-2:]
    assert assistant == {"role": "assistant",
                         "content": '{"label": "positive", "confidence": 10.5}'}
    assert "$.confidence: 10.5 is greater than the maximum of 1" in user["content"]


def test_json_object_schema_gives_up_after_the_last_reask_with_the_errors(
    server: FakeOpenAIServer,
) -> None:
    server.default = Reply(content={"label": "positive", "confidence": 2})
    client = Client([config(server, "json_object_schema")], retry=FAST)
    with client, pytest.raises(OutputValidationError) as caught:
        client.call(ASK, config="main", output=SCHEMA)
    assert len(server.chat_requests) == 3, "the first answer and two re-asks"
    assert caught.value.errors == ["$.confidence: 2 is greater than the maximum of 1"]


def test_a_tool_mode_spec_on_json_object_schema_asks_for_the_arguments_as_json(
    server: FakeOpenAIServer,
) -> None:
    server.default = Reply(content=GOOD)
    with Client([config(server, "json_object_schema")]) as client:
        assert client.call(ASK, config="main", output=TOOL).output == GOOD
    body = server.chat_requests[0].body
    assert body["response_format"] == {"type": "json_object", "schema": LABEL}
    assert "tools" not in body
    system = body["messages"][0]["content"]
    assert system == ("Label the review.\n\nRespond with only a JSON object holding the "
                      "arguments of the function `save_label` (Save the label.).")


def test_plan_for_json_object_schema_keeps_a_plain_output_unprompted() -> None:
    plan = plan_output(SCHEMA, "json_object_schema")
    assert plan.technique == "json_object_schema" and plan.instruction is None
    assert plan.prepare(ASK) == ASK
    assert output_params(plan_output(OutputSpec(mode="json_object"), "json_object_schema")) == {
        "response_format": {"type": "json_object", "schema": {"type": "object"}}}


def test_a_tool_reask_sends_the_call_back_with_empty_string_content(
    server: FakeOpenAIServer,
) -> None:
    server.enqueue(
        Reply(tool_calls=[ToolCallReply("save_label", {"label": "positive"})]),
        Reply(tool_calls=[ToolCallReply("save_label", GOOD)]),
    )
    with Client([config(server, "json_schema")], retry=FAST) as client:
        assert client.call(ASK, config="main", output=TOOL).output == GOOD
    assistant, tool = server.chat_requests[1].body["messages"][-2:]
    assert assistant["role"] == "assistant" and assistant["content"] == ""
    assert assistant["tool_calls"][0]["function"]["name"] == "save_label"
    assert tool["role"] == "tool" and "'confidence' is a required property" in tool["content"]


def test_patterns_stay_out_of_the_grammar_schema_and_are_still_validated(
    server: FakeOpenAIServer,
) -> None:
    """llama.cpp aborts its whole server on a grammar from `"pattern": "^\\d+$"` (seen live)."""
    code = {"type": "string", "pattern": r"^\d+$"}
    schema = {
        "type": "object", "required": ["code"],
        "properties": {"code": code, "pattern": {"type": "string"},
                       "more": {"type": "array", "items": code},
                       "either": {"anyOf": [code, {"type": "null"}]}},
        "$defs": {"c": code},
    }
    server.enqueue(Reply(content={"code": "abc"}), Reply(content={"code": "123"}))
    with Client([config(server, "json_object_schema")], retry=FAST) as client:
        result = client.call(ASK, config="main", output=OutputSpec(mode="json_schema",
                                                                   schema=schema))
    assert result.output == {"code": "123"}
    sent = server.chat_requests[0].body["response_format"]["schema"]
    plain = {"type": "string"}
    assert sent == {
        "type": "object", "required": ["code"],
        "properties": {"code": plain, "pattern": {"type": "string"},
                       "more": {"type": "array", "items": plain},
                       "either": {"anyOf": [plain, {"type": "null"}]}},
        "$defs": {"c": plain},
    }
    assert "does not match '^\\\\d+$'" in server.chat_requests[1].body["messages"][-1]["content"]
