"""Assertions: each failure says what was expected, what came, and where."""

from __future__ import annotations

import asyncio

import pytest

from promptkit.evals.assertions import Graders, Observation, build_assertion

SENTIMENT = {"sentiment": "negative", "confidence": 1.4, "tags": ["a", "b"]}
SCHEMA = {"type": "object", "required": ["sentiment"],
          "properties": {"confidence": {"type": "number", "maximum": 1}}}


def check(spec: object, **obs: object) -> tuple[bool, str]:
    outcome = asyncio.run(build_assertion(spec).evaluate(Observation(**obs), Graders()))
    return outcome.passed, outcome.message


def test_equals_on_a_path() -> None:
    assert check({"equals": {"path": "sentiment", "value": "negative"}}, output=SENTIMENT)[0]
    passed, message = check({"equals": {"path": "sentiment", "value": "positive"}}, output=SENTIMENT)
    assert not passed and message == "expected 'positive' at sentiment, got 'negative'"
    passed, message = check({"equals": {"path": "tags[5]", "value": "x"}}, output=SENTIMENT)
    assert message == "expected 'x' at tags[5], got nothing at tags[5]"


def test_contains_regex_on_text() -> None:
    assert check({"contains": {"value": "RESET", "ignore_case": True}}, text="Click reset.")[0]
    passed, message = check({"not_contains": {"value": "{{"}}, text="Hi {{ name }}")
    assert not passed and message == "expected not to contain '{{', got 'Hi {{ name }}'"
    passed, message = check({"regex": {"pattern": r"^\d+$"}}, text="12a")
    assert message == r"expected a match for /^\d+$/, got '12a'"


def test_range_and_schema() -> None:
    passed, message = check({"range": {"path": "confidence", "min": 0, "max": 1}}, output=SENTIMENT)
    assert not passed and message == "expected at confidence a number in [0, 1], got 1.4"
    passed, message = check("schema", output=SENTIMENT, schema=SCHEMA)
    assert not passed and message == "output breaks the schema at confidence: 1.4 is greater than the maximum of 1"
    assert check("schema", output={"sentiment": "x"}, schema=SCHEMA)[0]


def test_a_failed_call_fails_output_assertions_with_the_reason() -> None:
    passed, message = check({"equals": {"path": "sentiment", "value": "positive"}},
                            error="OutputValidationError: bad")
    assert not passed and "no output (OutputValidationError: bad)" in message
    assert check("schema", error="TruncatedOutputError: cut")[1] == "no valid output: TruncatedOutputError: cut"


def test_tool_called_compares_a_subset_of_arguments() -> None:
    calls = ({"name": "save_contact", "arguments": {"name": "Jane", "email": "j@x.io"}},)
    assert check({"tool_called": {"name": "save_contact", "args": {"email": "j@x.io"}}}, tool_calls=calls)[0]
    _, message = check({"tool_called": {"name": "save_contact", "args": {"email": "k@x.io"}}},
                       tool_calls=calls)
    assert message == "save_contact called with other arguments (email: expected 'k@x.io', got 'j@x.io')"
    assert check({"tool_called": {"name": "other"}}, tool_calls=calls)[1] == \
        "expected a call to 'other', got ['save_contact']"


def test_latency_and_cost_limits() -> None:
    assert check({"latency": {"max_ms": 500}}, latency_s=0.2)[0]
    assert check({"latency": {"max_ms": 100}}, latency_s=0.2)[1] == "expected latency <= 100 ms, got 200 ms"
    assert check({"cost": {"max_usd": 0.001}}, cost_usd=0.002)[1] == "expected cost <= $0.001, got $0.002000"


def test_python_assertion_imports_module_function() -> None:
    assert check({"python": {"function": "promptkit.evals.checks:max_words", "limit": 3}}, text="a b")[0]
    passed, message = check({"python": "promptkit.evals.checks:max_words"}, text="w " * 200)
    assert not passed and message == "200 words, more than 100"


def test_judge_without_a_model_fails_clearly() -> None:
    assert check({"judge": {"rubric": "is polite"}}, text="hi") == (False, "no judge model available to this run")


@pytest.mark.parametrize("spec", [{"a": 1, "b": 2}, 3, {"python": "no_colon"}])
def test_malformed_specs(spec: object) -> None:
    with pytest.raises((ValueError, ImportError)):
        build_assertion(spec)


@pytest.mark.parametrize(("value", "passes"), [
    ("2025-05-01T12:00:00Z", True), ("2025-05-01T12:00:00.123+02:00", True),
    ("2025-13-01T12:00:00Z", False), ("yesterday", False), ("2025-05-01", False),
])
def test_the_schema_assertion_checks_date_time_without_optional_packages(
    value: str, passes: bool
) -> None:
    """jsonschema checks `date-time` only with rfc3339-validator installed; promptkit's own
    check fills the gap, so a malformed timestamp never passes in silence."""
    schema = {"type": "object", "properties": {"at": {"type": "string", "format": "date-time"}}}
    assert check({"schema": {"schema": schema}}, output={"at": value})[0] is passes


def test_a_schema_naming_an_unknown_draft_or_breaking_its_own_is_refused_when_built() -> None:
    with pytest.raises(ValueError, match=r"unknown \$schema 'http://example.com/mine'"):
        build_assertion({"schema": {"schema": {"$schema": "http://example.com/mine"}}})
    with pytest.raises(ValueError, match="not a valid JSON Schema: 'strin' is not valid"):
        build_assertion({"schema": {"schema": {"type": "strin"}}})


def test_a_python_check_is_not_called_for_a_failed_call() -> None:
    passed, message = check({"python": "promptkit.evals.checks:max_words"},
                            error="ModelAPIError: 400")
    assert not passed
    assert message == "promptkit.evals.checks:max_words not run: no output (ModelAPIError: 400)"


@pytest.mark.parametrize(("function", "message"), [
    ("no_such_module_here:f", "python: cannot import 'no_such_module_here': No module named"),
    ("promptkit.evals.checks:nope", "python: module 'promptkit.evals.checks' has no function 'nope'"),
])
def test_a_python_check_that_cannot_be_found_says_why(function: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_assertion({"python": function})
STEPS = ({"step": 1, "name": "lookup_order", "arguments": {"order_id": "A7"}},
         {"step": 2, "name": "notify", "arguments": {}},
         {"step": 3, "name": "refund_order", "arguments": {"order_id": "A7", "amount": 5}})


def test_trajectory_checks_the_order_of_the_tools() -> None:
    assert check({"trajectory": {"tools": ["lookup_order", "notify", "refund_order"]}},
                 tool_calls=STEPS)[0]
    assert check({"trajectory": {"contains": ["lookup_order", "refund_order"]}},
                 tool_calls=STEPS)[0]
    assert check({"trajectory": {"contains": ["refund_order", "lookup_order"]}},
                 tool_calls=STEPS)[1] == (
        "expected the tools ['refund_order', 'lookup_order'] in this order (others may come "
        "between), got ['lookup_order', 'notify', 'refund_order']")
    assert check({"trajectory": {"excludes": ["notify"]}}, tool_calls=STEPS)[1] == \
        "expected no call to ['notify'], got ['lookup_order', 'notify', 'refund_order']"
    with pytest.raises(ValueError, match="needs `tools`, `contains` or `excludes`"):
        build_assertion({"trajectory": {}})


def test_tool_called_at_a_step_and_the_step_count() -> None:
    spec = {"name": "refund_order", "args": {"amount": 5}, "step": 3}
    assert check({"tool_called": spec}, tool_calls=STEPS)[0]
    assert check({"tool_called": {**spec, "step": 2}}, tool_calls=STEPS)[1] == (
        "expected a call to 'refund_order' at step 2, got "
        "['lookup_order', 'notify', 'refund_order']")
    assert check({"steps": {"max": 3}}, tool_calls=STEPS)[0]
    assert check({"steps": {"min": 1, "max": 2}}, tool_calls=STEPS)[1] == (
        "expected a number of steps in [1, 2], got 3: ['lookup_order', 'notify', 'refund_order']")


def test_tool_called_passes_when_any_call_of_the_tool_has_the_arguments() -> None:
    calls = ({"name": "lookup_order", "arguments": {"order_id": "A1"}},
             {"name": "lookup_order", "arguments": {"order_id": "A7"}})
    assert check({"tool_called": {"name": "lookup_order", "args": {"order_id": "A7"}}},
                 tool_calls=calls)[0]
