"""Prices: genai-prices' offline table, config overrides, cached input, unknown models flagged."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import genai_prices
import openai
import pytest
from openai.types import CompletionUsage

from promptkit.core.prices import (
    Cost,
    catalog_context_window,
    price_call,
    read_usage,
    worst_case_cost,
)
from promptkit.core.results import Usage
from promptkit.core.types import ModelConfig
from promptkit.errors import ConfigError

GPT4O = ModelConfig(model="gpt-4o")


def table_rates(model: str) -> tuple[float, float, float]:
    """USD per 1M tokens for input, cached input and output, read from genai-prices itself."""
    price = genai_prices.calc_price(genai_prices.Usage(), model).model_price
    cached = price.cache_read_mtok
    assert isinstance(price.input_mtok, Decimal) and isinstance(price.output_mtok, Decimal)
    assert isinstance(cached, Decimal)
    return float(price.input_mtok), float(cached), float(price.output_mtok)


def chat_usage(prompt: int, completion: int, cached: int = 0) -> CompletionUsage:
    return CompletionUsage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=prompt + completion,
        prompt_tokens_details={"cached_tokens": cached},
    )


def test_cached_input_is_priced_at_the_cache_rate() -> None:
    rate_in, rate_cached, rate_out = table_rates("gpt-4o")
    assert rate_cached < rate_in
    cost = price_call(GPT4O, chat_usage(10_000, 1_000, cached=6_000))
    assert cost.source == "genai-prices" and cost.priced_as == "openai:gpt-4o"
    assert cost.input_usd == pytest.approx(4_000 * rate_in / 1e6)
    assert cost.cached_usd == pytest.approx(6_000 * rate_cached / 1e6)
    assert cost.output_usd == pytest.approx(1_000 * rate_out / 1e6)
    assert cost.usd == pytest.approx(cost.input_usd + cost.cached_usd + cost.output_usd)
    uncached = price_call(GPT4O, chat_usage(10_000, 1_000))
    assert uncached.cached_usd == 0 and uncached.usd > cost.usd


def test_a_model_without_a_cache_price_bills_cached_tokens_as_input() -> None:
    cost = price_call(ModelConfig(model="gpt-4"), chat_usage(1_000, 0, cached=400))
    assert cost.cached_usd == pytest.approx(cost.input_usd * 400 / 600)


def test_usage_shapes_from_chat_completions_responses_and_dicts_agree() -> None:
    expected = Usage(input_tokens=900, output_tokens=80, cached_tokens=300)
    sdk = chat_usage(900, 80, cached=300)
    assert read_usage(sdk) == read_usage(sdk.model_dump()) == expected
    responses = {
        "input_tokens": 900,
        "output_tokens": 80,
        "input_tokens_details": {"cached_tokens": 300},
    }
    assert read_usage(responses) == expected
    assert read_usage(expected) is expected
    assert read_usage(None) == read_usage({}) == Usage()
    no_details = CompletionUsage(prompt_tokens=5, completion_tokens=2, total_tokens=7)
    assert read_usage(no_details) == Usage(5, 2, 0)
    assert (
        read_usage(
            {"prompt_tokens": 5, "prompt_tokens_details": {"cached_tokens": 9}}
        ).cached_tokens
        == 5
    )


def test_config_prices_override_the_table() -> None:
    self_hosted = ModelConfig(
        model="gpt-4o", base_url="http://gpu-box:8000/v1", price_in=0, price_out=0
    )
    assert price_call(self_hosted, chat_usage(5_000, 500)) == Cost(
        0.0, 0.0, 0.0, 0.0, "config", "openai:gpt-4o"
    )
    own = ModelConfig(model="my-llama", price_in=0.2, price_out=0.6)
    cost = price_call(own, chat_usage(1_000_000, 500_000, cached=250_000))
    assert (cost.input_usd, cost.cached_usd, cost.output_usd) == pytest.approx((0.15, 0.05, 0.3))
    assert cost.usd == pytest.approx(0.5) and cost.source == "config" and cost.priced_as is None


def test_a_partial_override_takes_the_rest_from_the_table() -> None:
    table = price_call(GPT4O, chat_usage(2_000, 1_000, cached=500))
    cost = price_call(
        ModelConfig(model="gpt-4o", price_out=100), chat_usage(2_000, 1_000, cached=500)
    )
    assert cost.output_usd == pytest.approx(0.1)
    assert (cost.input_usd, cost.cached_usd) == (table.input_usd, table.cached_usd)
    assert cost.source == "config"


def test_an_unknown_model_costs_zero_and_is_flagged() -> None:
    cost = price_call(ModelConfig(model="my-finetuned-thing"), chat_usage(1_000, 1_000))
    assert cost == Cost(0.0, 0.0, 0.0, 0.0, "unknown", None)
    assert not cost.known


@pytest.mark.parametrize(
    ("config", "priced_as"),
    [
        (ModelConfig(model="gpt-4o", base_url="https://api.openai.com/v1"), "openai:gpt-4o"),
        (ModelConfig(model="gpt-4o", base_url="https://acme.openai.azure.com/"), "azure:gpt-4o"),
        (ModelConfig(model="gpt-4o", base_url="http://127.0.0.1:9999/v1"), "openai:gpt-4o"),
        (ModelConfig(model="openai/gpt-4o-mini"), "openai:gpt-4o-mini"),
        (ModelConfig(model="gpt-4o-2024-08-06"), "openai:gpt-4o"),
    ],
)
def test_the_table_entry_is_found_by_url_then_prefix_then_name(
    config: ModelConfig, priced_as: str
) -> None:
    assert price_call(config, chat_usage(10, 10)).priced_as == priced_as


def test_worst_case_assumes_no_cache_and_the_longest_reply() -> None:
    rate_in, _, rate_out = table_rates("gpt-4o")
    expected = (3_000 * rate_in + 500 * rate_out) / 1e6
    assert worst_case_cost(GPT4O, 3_000, 500) == pytest.approx(expected)
    capped = ModelConfig(model="gpt-4o", max_tokens=500)
    assert worst_case_cost(capped, 3_000) == pytest.approx(expected)
    whole_window = (3_000 * rate_in + (128_000 - 3_000) * rate_out) / 1e6
    assert worst_case_cost(GPT4O, 3_000) == pytest.approx(whole_window)
    small = ModelConfig(model="mine", context_window=4_000, price_in=1, price_out=2)
    assert worst_case_cost(small, 1_000) == pytest.approx((1_000 * 1 + 3_000 * 2) / 1e6)
    assert worst_case_cost(ModelConfig(model="mine"), 1_000, 100) == 0.0


def test_worst_case_needs_some_bound_on_the_reply() -> None:
    with pytest.raises(ConfigError, match="max_tokens"):
        worst_case_cost(ModelConfig(model="mine", price_in=1, price_out=1), 1_000)


def test_context_windows_come_from_the_table() -> None:
    assert catalog_context_window("gpt-4o") == 128_000
    assert catalog_context_window("gpt-4") == 8_192
    assert catalog_context_window("not-a-model") is None


# --- the usage a real SDK call returns, from a server on 127.0.0.1 ------------------------

COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "gpt-4o-2024-08-06",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "hi"},
            "finish_reason": "stop",
        }
    ],
    "usage": {
        "prompt_tokens": 2_000,
        "completion_tokens": 300,
        "total_tokens": 2_300,
        "prompt_tokens_details": {"cached_tokens": 1_024},
        "completion_tokens_details": {"reasoning_tokens": 0},
    },
}


class _Completions(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        body = json.dumps(COMPLETION).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def endpoint() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Completions)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_prices_the_usage_the_sdk_returns(endpoint: str) -> None:
    client = openai.OpenAI(base_url=endpoint, api_key="test", max_retries=0)
    response = client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}]
    )
    config = ModelConfig(model="gpt-4o", base_url=endpoint)
    cost = price_call(config, response.usage)
    rate_in, rate_cached, rate_out = table_rates("gpt-4o")
    assert cost.cached_usd == pytest.approx(1_024 * rate_cached / 1e6)
    assert cost.usd == pytest.approx((976 * rate_in + 1_024 * rate_cached + 300 * rate_out) / 1e6)
