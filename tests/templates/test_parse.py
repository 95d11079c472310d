"""The prompt file format: front matter checked strictly, errors located by file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from promptkit.errors import PromptFormatError, TemplateSyntaxError
from promptkit.templates.library import PromptLibrary
from promptkit.templates.parse import parse_prompt

GOOD = """\
---
name: greet
version: 1.0.0
task: classification
inputs:
  who: string
output:
  mode: json_schema
  schema: {type: object, required: [ok], properties: {ok: {type: boolean}}}
---
system:
Be brief.
user:
Hello {{ who }}
"""


def test_parses_meta_sections_and_task_preset() -> None:
    prompt = parse_prompt(GOOD, "greet.prompt")
    assert prompt.ref == "greet@1.0.0"
    assert [s.role for s in prompt.sections] == ["system", "user"]
    assert [s.line for s in prompt.sections] == [12, 14]
    assert prompt.meta.effective_temperature == 0.0  # classification preset
    assert prompt.meta.output.json_schema == {
        "type": "object", "required": ["ok"], "properties": {"ok": {"type": "boolean"}}
    }


def test_content_hash_names_the_content_exactly() -> None:
    a = parse_prompt(GOOD)
    assert a.content_hash.startswith("sha256:") and len(a.content_hash) == 7 + 64
    assert parse_prompt(GOOD).content_hash == a.content_hash
    assert parse_prompt(GOOD.replace("Be brief.", "Be briefer.")).content_hash != a.content_hash
    # Same meaning, different YAML layout: same hash (the front matter is hashed canonically).
    relaid = GOOD.replace("inputs:\n  who: string", "inputs: {who: string}")
    assert parse_prompt(relaid).content_hash == a.content_hash


def test_unknown_key_names_file_line_key_and_allowed_keys() -> None:
    text = GOOD.replace("task: classification", "task: classification\ntemprature: 0.2")
    with pytest.raises(PromptFormatError) as info:
        parse_prompt(text, "prompts/greet/1.0.0.prompt")
    error = info.value
    assert (error.path, error.line, error.field) == (Path("prompts/greet/1.0.0.prompt"), 5, "temprature")
    assert "unknown key 'temprature'" in str(error)
    assert "allowed keys:" in str(error) and "temperature" in str(error)
    assert str(error).startswith("prompts/greet/1.0.0.prompt:5: greet@1.0.0: ")


def test_unknown_nested_key_lists_the_nested_allowed_keys() -> None:
    text = GOOD.replace("  mode: json_schema", "  mode: json_schema\n  strict: true")
    with pytest.raises(PromptFormatError, match=r"unknown key 'strict' in output; allowed keys: mode, schema, tool") as info:
        parse_prompt(text)
    assert info.value.line == 9


def test_wrong_type_names_the_field_and_line() -> None:
    with pytest.raises(PromptFormatError) as info:
        parse_prompt(GOOD.replace("task: classification", "temperature: hot"))
    assert info.value.field == "temperature" and info.value.line == 4


def test_invalid_yaml_and_missing_fences() -> None:
    with pytest.raises(PromptFormatError, match="not valid YAML") as info:
        parse_prompt(GOOD.replace("task: classification", "task: [unclosed"))
    assert info.value.line is not None
    with pytest.raises(PromptFormatError, match="starts with a '---' line"):
        parse_prompt("name: x\n")
    with pytest.raises(PromptFormatError, match="no closing '---'"):
        parse_prompt("---\nname: x\n")


def test_duplicate_keys_are_refused() -> None:
    with pytest.raises(PromptFormatError, match="duplicate key 'task'") as info:
        parse_prompt(GOOD.replace("task: classification", "task: classification\ntask: code"))
    assert info.value.line == 5


def test_invalid_output_schema_is_refused() -> None:
    text = GOOD.replace("{type: object, required: [ok]", "{type: objekt, required: [ok]")
    with pytest.raises(PromptFormatError, match="output schema is not a valid JSON Schema"):
        parse_prompt(text)


def test_tool_mode_needs_a_tool() -> None:
    with pytest.raises(PromptFormatError, match=r"needs output\.tool"):
        parse_prompt(GOOD.replace("mode: json_schema", "mode: tool"))


def test_location_fills_in_and_must_agree_with_front_matter() -> None:
    bare = GOOD.replace("name: greet\nversion: 1.0.0\n", "")
    assert parse_prompt(bare, name="greet", version="2.0.0").ref == "greet@2.0.0"
    with pytest.raises(PromptFormatError, match=r"location says '2\.0\.0'"):
        parse_prompt(GOOD, name="greet", version="2.0.0")


def test_yaml_float_version_is_read_as_text() -> None:
    assert parse_prompt(GOOD.replace("version: 1.0.0", "version: 1.10")).version == "1.10"


def test_template_syntax_error_names_the_file_line() -> None:
    text = GOOD.replace("Hello {{ who }}", "Hello {{ who }")
    with pytest.raises(TemplateSyntaxError) as info:
        parse_prompt(text, "p.prompt")
    assert info.value.line == 14 and "template syntax error" in str(info.value)


def test_text_outside_a_role_section_is_refused() -> None:
    text = GOOD.replace("system:\nBe brief.", "stray words\nsystem:\nBe brief.")
    with pytest.raises(PromptFormatError, match="text outside a role section") as info:
        parse_prompt(text)
    assert info.value.line == 11


def test_a_body_without_markers_is_one_user_message() -> None:
    prompt = parse_prompt("---\nname: a\nversion: '1'\ninputs: {x: string}\n---\nSay {{ x }}\n")
    assert prompt.render(x="hi") == [{"role": "user", "content": "Say hi"}]


def test_history_slot_must_be_a_declared_messages_input() -> None:
    text = GOOD.replace("user:\nHello", "history: past\nuser:\nHello")
    with pytest.raises(PromptFormatError, match="history slot 'past' must be declared"):
        parse_prompt(text)


def test_example_prompts_all_parse() -> None:
    library = PromptLibrary(Path(__file__).resolve().parents[2] / "prompts")
    loaded = list(library.load_all())
    assert [p.ref for p in loaded] == [  # type: ignore[union-attr]
        "extract_contact@1.0.0",
        "sentiment@1.0.0", "sentiment@1.1.0", "sentiment@1.2.0",
        "support_assistant@1.0.0", "support_assistant@1.1.0", "support_assistant@1.2.0",
    ]


TOOLS = """\
tools:
  - name: lookup_order
    parameters: {type: object, properties: {order_id: {type: string}}}
  - name: refund_order
    description: Refund an order.
"""


def test_tools_are_declared_beside_the_output_and_checked() -> None:
    prompt = parse_prompt(GOOD.replace("task: classification\n", TOOLS))
    assert [t.name for t in prompt.meta.tools] == ["lookup_order", "refund_order"]
    assert prompt.meta.tools[1].parameters == {"type": "object"}
    with pytest.raises(PromptFormatError, match=r"unknown key 'params' in tools.1; allowed keys: "
                                                r"description, name, parameters") as info:
        parse_prompt(GOOD.replace("task: classification\n",
                                  TOOLS.replace("description:", "params:")))
    assert info.value.line == 8
    with pytest.raises(PromptFormatError, match=r"tools\[0\].parameters is not a valid JSON "
                                                r"Schema") as info:
        parse_prompt(GOOD.replace("task: classification\n",
                                  TOOLS.replace("type: string", "type: text")))
    assert info.value.line == 5
    with pytest.raises(PromptFormatError, match="two tools are named 'lookup_order'"):
        parse_prompt(GOOD.replace("task: classification\n",
                                  TOOLS.replace("refund_order", "lookup_order")))
