"""Context budgeting: whole turns dropped oldest first, nothing cut silently."""

from __future__ import annotations

import random
from typing import Any

import pytest

from promptkit.core.context import (
    TRUNCATION_MARKER,
    FitResult,
    Truncation,
    context_window,
    fit_messages,
)
from promptkit.core.tokens import count_message_tokens
from promptkit.core.types import ModelConfig
from promptkit.errors import ConfigError, ContextBudgetError

Msg = dict[str, Any]
MODEL = "gpt-4o"


def user(text: str) -> Msg:
    return {"role": "user", "content": text}


def assistant(text: str) -> Msg:
    return {"role": "assistant", "content": text}


def tool_turn(n: int, result: str) -> list[Msg]:
    """A user question answered through a tool call, its result and a final answer."""
    call = {
        "id": f"call_{n}",
        "type": "function",
        "function": {"name": "search", "arguments": f'{{"q": "item {n}"}}'},
    }
    return [
        user(f"look up item {n}"),
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": f"call_{n}", "content": result},
        assistant(f"item {n} is fine"),
    ]


def chat(turns: int, words: int = 20) -> list[Msg]:
    messages: list[Msg] = [{"role": "system", "content": "You answer briefly."}]
    for n in range(turns):
        messages += [user(f"question {n} " * words), assistant(f"answer {n} " * words)]
    return [*messages, user("and finally?")]


def tokens(messages: list[Msg]) -> int:
    return count_message_tokens(messages, MODEL).tokens


def test_everything_is_kept_when_it_fits() -> None:
    messages = chat(3)
    result = fit_messages(messages, model=MODEL, budget_tokens=10_000, reserve_output=500)
    assert result == FitResult(messages, [], [], tokens(messages), 9_500, True)


def test_oldest_whole_turns_go_first_and_system_and_newest_stay() -> None:
    messages = chat(6)
    budget = tokens([messages[0], *messages[-5:]]) + 10  # room for the two newest Q/A turns
    result = fit_messages(messages, model=MODEL, budget_tokens=budget + 100, reserve_output=100)
    assert result.messages == [messages[0], *messages[-5:]]
    assert result.dropped == messages[1:-5]  # the four oldest turns, in order
    assert result.truncated == []
    assert result.tokens == tokens(result.messages) <= result.budget == budget


def test_a_tool_call_is_never_separated_from_its_results() -> None:
    big = "row " * 300
    messages = [{"role": "system", "content": "sys"}, *tool_turn(1, big), *tool_turn(2, "ok")]
    messages.append(user("thanks, and item 3?"))
    room_for_all_but_one_tool_message = tokens(messages) - tokens([messages[3]]) + 3
    result = fit_messages(messages, model=MODEL, budget_tokens=room_for_all_but_one_tool_message)
    assert result.dropped == messages[1:5]  # the whole first tool turn, not just its big result
    assert result.messages == [messages[0], *messages[5:]]


def test_the_newest_tool_turn_is_kept_whole() -> None:
    messages = [{"role": "system", "content": "sys"}, *chat(3)[1:-1], *tool_turn(9, "42")[:3]]
    newest = messages[-3:]
    budget = tokens([messages[0], *newest])
    result = fit_messages(messages, model=MODEL, budget_tokens=budget)
    assert result.messages == [messages[0], *newest]
    assert result.tokens == budget


def test_system_messages_are_kept_wherever_they_stand() -> None:
    messages = chat(4)
    messages.insert(2, {"role": "developer", "content": "mid-turn instruction"})
    result = fit_messages(messages, model=MODEL, budget_tokens=tokens(messages) - 30)
    assert result.messages[:2] == [messages[0], messages[2]]
    assert result.dropped == [messages[1], messages[3]]  # turn 0 went whole, around the pin


def test_a_lone_oversized_newest_message_is_truncated_with_a_marker_and_reported() -> None:
    document = "The quick brown fox jumps over the lazy dog. " * 400
    messages = [{"role": "system", "content": "Summarise."}, user(document)]
    config = ModelConfig(model=MODEL, context_window=1_000, max_tokens=200)
    result = fit_messages(messages, model=config)
    assert result.budget == 800
    assert result.tokens == tokens(result.messages) <= 800
    assert result.tokens >= 790  # the room is used, not wasted
    [cut] = result.truncated
    assert cut == Truncation(1, "user", tokens([messages[1]]) - 3, cut.tokens_after)
    assert cut.tokens_after < cut.tokens_before
    content = result.messages[1]["content"]
    head, marker = content.split("\n[... truncated by promptkit:")
    assert document.startswith(head) and len(head) > 1_000
    assert marker.endswith("tokens removed to fit]")
    assert TRUNCATION_MARKER.startswith("\n[... truncated by promptkit:")
    assert messages[1]["content"] == document  # the caller's message is untouched


def test_a_huge_tool_result_in_the_newest_turn_is_truncated_not_separated() -> None:
    messages = [{"role": "system", "content": "sys"}, *tool_turn(1, "data " * 5_000)[:3]]
    result = fit_messages(messages, model=MODEL, budget_tokens=600)
    assert [m["role"] for m in result.messages] == ["system", "user", "assistant", "tool"]
    assert [t.role for t in result.truncated] == ["tool"]
    assert result.truncated[0].index == 3
    assert result.tokens <= 600


def test_truncation_reports_the_index_in_the_fitted_list() -> None:
    messages = [*chat(2), {"role": "user", "content": "long " * 3_000}]
    messages.remove(messages[-2])  # the newest turn is the long message
    result = fit_messages(messages, model=MODEL, budget_tokens=300)
    [cut] = result.truncated
    assert result.messages[cut.index]["content"].startswith("long long")
    assert cut.index == len(result.messages) - 1


def test_no_message_is_cut_when_none_alone_exceeds_the_budget() -> None:
    """Two halves that only together overflow: refusing beats cutting one silently."""
    messages = [{"role": "system", "content": "sys"}, *tool_turn(1, "x " * 400)[:3]]
    messages[1] = user("y " * 400)
    budget = tokens(messages) - 100
    with pytest.raises(ContextBudgetError, match="no single message alone exceeds"):
        fit_messages(messages, model=MODEL, budget_tokens=budget)


def test_system_messages_that_do_not_fit_raise() -> None:
    messages = [{"role": "system", "content": "rule " * 500}, user("hi")]
    with pytest.raises(ContextBudgetError, match="system messages alone exceed"):
        fit_messages(messages, model=MODEL, budget_tokens=400)


def test_a_reserve_that_eats_the_window_raises() -> None:
    with pytest.raises(ContextBudgetError):
        fit_messages(chat(1), model=MODEL, budget_tokens=100, reserve_output=100)


def test_an_oversized_multimodal_message_is_not_truncated() -> None:
    parts = [{"type": "text", "text": "word " * 2_000}]
    with pytest.raises(ContextBudgetError):
        fit_messages(
            [user("hi"), {"role": "user", "content": parts}], model=MODEL, budget_tokens=500
        )


def test_estimated_models_fit_too_and_say_so() -> None:
    messages = chat(10)
    result = fit_messages(messages, model="local-llama", budget_tokens=300)
    assert not result.exact
    assert result.tokens <= 300 and result.dropped
    assert result.messages[-1] == messages[-1]


def random_chat(rng: random.Random) -> list[Msg]:
    messages: list[Msg] = [{"role": "system", "content": "sys " * rng.randint(1, 30)}]
    for n in range(rng.randint(1, 12)):
        if rng.random() < 0.3:
            messages += tool_turn(n, "r " * rng.randint(1, 200))
        else:
            messages += [user("u " * rng.randint(1, 150)), assistant("a " * rng.randint(1, 150))]
    return [*messages, user("last " * rng.randint(1, 600))]


@pytest.mark.parametrize("seed", range(60))
def test_invariants_on_random_conversations(seed: int) -> None:
    rng = random.Random(seed)
    messages = random_chat(rng)
    budget = rng.randint(100, 3_000)
    room = budget - tokens([messages[0]])  # what the system message and priming leave
    try:
        result = fit_messages(messages, model=MODEL, budget_tokens=budget)
    except ContextBudgetError:
        assert room < 40  # only when not even the truncation marker fits
        return
    assert result.tokens == tokens(result.messages) <= budget
    assert result.messages[0] == messages[0]
    # the dropped messages are the oldest ones, a contiguous run of whole turns
    assert result.dropped == messages[1 : 1 + len(result.dropped)]
    rest = messages[1 + len(result.dropped) :]
    assert len(result.messages) == 1 + len(rest)
    if result.dropped:
        assert rest[0]["role"] == "user"
    cut = {t.index for t in result.truncated}
    for index, (kept, original) in enumerate(zip(result.messages[1:], rest, strict=True), 1):
        if index in cut:
            assert original["content"].startswith(kept["content"].split("\n[... truncated")[0])
        else:
            assert kept is original  # never changed silently
    for t in result.truncated:  # only a message that alone exceeded the room is cut
        assert t.index == len(result.messages) - 1 and t.tokens_before > room
    calls = {c["id"] for m in result.messages for c in m.get("tool_calls") or []}
    assert calls == {m["tool_call_id"] for m in result.messages if m["role"] == "tool"}


def test_context_window_prefers_the_config_then_the_table() -> None:
    assert context_window(ModelConfig(model=MODEL, context_window=4_096)) == 4_096
    assert context_window(ModelConfig(model=MODEL)) == context_window(MODEL) == 128_000
    assert context_window(ModelConfig(model="my-own-model")) is None
    assert context_window(ModelConfig(model="my-own-model", context_window=8_192)) == 8_192


def test_budget_defaults_to_the_window_minus_the_configs_max_tokens() -> None:
    config = ModelConfig(model=MODEL, max_tokens=1_000)
    assert fit_messages(chat(1), model=config).budget == 128_000 - 1_000
    assert fit_messages(chat(1), model=config, reserve_output=0).budget == 128_000
    assert fit_messages(chat(1), model=MODEL).budget == 128_000


def test_an_unknown_window_must_be_given() -> None:
    with pytest.raises(ConfigError, match="context_window"):
        fit_messages(chat(1), model=ModelConfig(model="my-own-model"))
