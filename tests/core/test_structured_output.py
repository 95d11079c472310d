"""Structured output by the endpoint's declared capability, and how replies are read back."""

from __future__ import annotations

import json
from typing import Any

import pytest

from promptkit.core import Client, OutputSpec, ToolSpec, extract_json
from promptkit.core.providers.openai_chat import output_params
from promptkit.core.structured import is_strict_compatible, plan_output
from promptkit.core.validation import json_path, validate
from promptkit.errors import OutputValidationError, RetriesExhaustedError
from promptkit.testing import FakeOpenAIServer, Reply, ToolCallReply
from tests.core.conftest import ADA, ASK, FAST, PERSON, config_for

SCHEMA = OutputSpec(mode="json_schema", schema=PERSON)
TOOL = OutputSpec(
    mode="tool", tool=ToolSpec(name="record_person", description="Save a person", parameters=PERSON)
)


def test_json_schema_capability_sends_a_strict_response_format(server: FakeOpenAIServer) -> None:
    server.default = Reply(content=ADA)
    with Client([config_for(server, capability="json_schema")]) as client:
        assert client.call(ASK, config="main", output=SCHEMA).output == ADA
    body = server.chat_requests[0].body
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "output", "schema": PERSON, "strict": True},
    }
    assert body["messages"] == ASK and "tools" not in body


def test_json_object_capability_sends_json_mode_and_the_schema_in_the_prompt(
    server: FakeOpenAIServer,
) -> None:
    server.default = Reply(content=ADA)
    with Client([config_for(server, capability="json_object")]) as client:
        assert client.call(ASK, config="main", output=SCHEMA).output == ADA
    body = server.chat_requests[0].body
    assert body["response_format"] == {"type": "json_object"}
    system = body["messages"][0]["content"]
    assert system.startswith("You extract people.\n\n") and json.dumps(PERSON) in system


def test_tool_capability_forces_a_tool_call_and_returns_its_arguments(
    server: FakeOpenAIServer,
) -> None:
    server.default = Reply(tool_calls=[ToolCallReply("output", ADA)])
    with Client([config_for(server, capability="tool")]) as client:
        result = client.call(ASK, config="main", output=SCHEMA)
    assert result.output == ADA and result.finish_reason == "tool_calls"
    body = server.chat_requests[0].body
    assert body["tool_choice"] == {"type": "function", "function": {"name": "output"}}
    assert body["tools"][0]["function"]["parameters"] == PERSON
    assert "response_format" not in body


def test_tool_mode_reasks_with_a_tool_message_carrying_the_errors(
    server: FakeOpenAIServer,
) -> None:
    server.enqueue(
        Reply(tool_calls=[ToolCallReply("record_person", {"name": "Ada"})]),
        Reply(tool_calls=[ToolCallReply("record_person", ADA)]),
    )
    with Client([config_for(server, capability="json_schema")]) as client:
        result = client.call(ASK, config="main", output=TOOL)
    assert result.output == ADA
    first, second = (r.body for r in server.chat_requests)
    assert first["tools"][0]["function"]["description"] == "Save a person"
    assistant, tool = second["messages"][-2:]
    assert assistant["tool_calls"][0]["function"] == {
        "name": "record_person",
        "arguments": '{"name": "Ada"}',
    }
    assert tool["role"] == "tool" and tool["tool_call_id"] == "call_0"
    assert "'age' is a required property" in tool["content"]


def test_prompt_capability_finds_json_in_fences_and_prose(server: FakeOpenAIServer) -> None:
    server.default = Reply(
        content='Sure! Here it is:\n```json\n{"name": "Ada", "age": 36}\n```\nAnything else?'
    )
    with Client([config_for(server, capability="prompt")]) as client:
        result = client.call([{"role": "user", "content": "Ada, 36"}], config="main", output=SCHEMA)
    assert result.output == ADA
    body = server.chat_requests[0].body
    assert "response_format" not in body and "tools" not in body
    assert body["messages"][0]["role"] == "system"
    assert json.dumps(PERSON) in body["messages"][0]["content"]


def test_a_server_that_rejects_json_schema_works_through_json_object() -> None:
    """llama.cpp's server answers json_schema with a 500 but takes json_object."""

    def llama_like(body: dict[str, Any], index: int) -> Reply:
        if body.get("response_format", {}).get("type") == "json_schema":
            return Reply(status=500, error_message="json_schema not supported")
        return Reply(content=ADA)

    with FakeOpenAIServer(handler=llama_like) as server:
        with (
            Client([config_for(server, capability="json_schema")], retry=FAST) as client,
            pytest.raises(RetriesExhaustedError),
        ):
            client.call(ASK, config="main", output=SCHEMA)
        with Client([config_for(server, capability="json_object")]) as client:
            assert client.call(ASK, config="main", output=SCHEMA).output == ADA


def test_unparseable_json_is_reasked_like_a_validation_error(server: FakeOpenAIServer) -> None:
    server.default = Reply(content="I think the name is Ada")
    with (
        Client([config_for(server, capability="prompt")]) as client,
        pytest.raises(OutputValidationError) as caught,
    ):
        client.call(ASK, config="main", output=SCHEMA, max_reasks=1)
    assert caught.value.errors == ["the reply is not valid JSON: no JSON value found in the "
                                   "reply (Expecting value: line 1 column 1 (char 0))"]
    assert len(server.chat_requests) == 2


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('{"a": 1}', {"a": 1}),
        ("  [1, 2]\n", [1, 2]),
        ('```json\n{"a": 1}\n```', {"a": 1}),
        ('Here:\n```\n{"a": [1, {"b": "}"}]}\n```\nDone.', {"a": [1, {"b": "}"}]}),
        ('The answer is {"a": 1} as asked.', {"a": 1}),
        ('Not {this} but {"a": 2}', {"a": 2}),
        ('```json\n{broken\n```\nso: {"a": 3}', {"a": 3}),
    ],
)
def test_extract_json_finds_the_value(text: str, value: object) -> None:
    assert extract_json(text) == value


def test_extract_json_says_when_there_is_none() -> None:
    with pytest.raises(ValueError, match="no JSON"):
        extract_json("no json at all {")


def test_strict_mode_only_for_schemas_it_accepts() -> None:
    assert is_strict_compatible(PERSON)
    assert not is_strict_compatible({**PERSON, "required": ["name"]})
    assert not is_strict_compatible(
        {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}
    )
    nested = {
        **PERSON,
        "properties": {
            **PERSON["properties"],
            "tags": {
                "type": "array",
                "items": {"type": "object", "properties": {"t": {"type": "string"}}},
            },
        },
        "required": ["name", "age", "tags"],
    }
    assert not is_strict_compatible(nested)
    loose = plan_output(OutputSpec(mode="json_schema", schema={"type": "object"}), "json_schema")
    assert output_params(loose)["response_format"]["json_schema"]["strict"] is False


def test_json_object_mode_without_schema_still_requires_an_object() -> None:
    plan = plan_output(OutputSpec(mode="json_object"), "json_schema")
    assert plan.schema == {"type": "object"}
    assert validate([1], plan.schema) == ["$: [1] is not of type 'object'"]


def test_validation_errors_name_their_path() -> None:
    schema = {"type": "object", "properties": {"items": {"type": "array", "items": PERSON}}}
    errors = validate({"items": [ADA, {"name": 3, "age": 1}]}, schema)
    assert errors == ["$.items[1].name: 3 is not of type 'string'"]
    assert json_path([]) == "$"
