"""`ValueMemo`: computed once per value object, again when the object changed in place."""

from __future__ import annotations

from typing import Any

from promptkit.memo import ValueMemo


def counting() -> tuple[ValueMemo[str], list[Any]]:
    seen: list[Any] = []

    def compute(value: Any) -> str:
        seen.append(value)
        return repr(value)

    return ValueMemo(compute, size=2), seen


def test_a_value_used_again_is_computed_once() -> None:
    memo, seen = counting()
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    assert [memo(schema) for _ in range(3)] == [repr(schema)] * 3
    assert len(seen) == 1


def test_a_value_changed_in_place_is_computed_again() -> None:
    memo, seen = counting()
    schema: dict[str, Any] = {"type": "object", "properties": {"a": {"type": "string"}}}
    memo(schema)
    schema["properties"]["a"]["type"] = "integer"  # deep inside: the copy still differs
    assert memo(schema) == repr(schema) and len(seen) == 2


def test_only_the_most_recent_values_are_kept() -> None:
    memo, seen = counting()
    first, second, third = {"n": 1}, {"n": 2}, {"n": 3}
    for value in (first, second, third, third, first):
        memo(value)
    assert seen == [first, second, third, first]  # `first` was let go to keep two
