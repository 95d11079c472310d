"""What a model call costs: genai-prices' offline table, overridden by the model config.

Prices come from the table bundled with `genai-prices` (no network): the model is
looked up by the endpoint's URL (`base_url`), then by a `provider/model` prefix,
then by its name alone. `price_in` / `price_out` in the model config (USD per 1M
tokens) override the table, so a self-hosted model can cost 0 or whatever its owner
says. A model neither knows costs 0 with `source="unknown"`: flagged, never guessed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from functools import lru_cache
from typing import Any, Literal

import genai_prices
from genai_prices.types import PriceCalculation, calc_unit_price

from promptkit.core.results import Usage
from promptkit.core.types import ModelConfig
from promptkit.errors import ConfigError

__all__ = [
    "Cost",
    "CostSource",
    "catalog_context_window",
    "price_call",
    "read_usage",
    "worst_case_cost",
]

CostSource = Literal["config", "genai-prices", "unknown"]
_PER_MTOK = 1_000_000


@dataclass(frozen=True)
class Cost:
    """The USD cost of one call: `usd == input_usd + cached_usd + output_usd`.

    `input_usd` is the uncached input, `cached_usd` the input read from the
    provider's prompt cache. `priced_as` names the table entry used, if any.
    """

    usd: float
    input_usd: float
    cached_usd: float
    output_usd: float
    source: CostSource
    priced_as: str | None = None

    @property
    def known(self) -> bool:
        return self.source != "unknown"


def read_usage(usage: Any) -> Usage:
    """Token counts from the usage an API reported (Chat Completions or Responses shape).

    Accepts the SDK's usage objects, their dict form, or a `Usage`.
    """
    if isinstance(usage, Usage) or usage is None:
        return usage or Usage()
    input_tokens = _int(_get(usage, "prompt_tokens", "input_tokens"))
    details = _get(usage, "prompt_tokens_details", "input_tokens_details")
    cached = _int(_get(details, "cached_tokens")) if details is not None else 0
    return Usage(
        input_tokens=input_tokens,
        output_tokens=_int(_get(usage, "completion_tokens", "output_tokens")),
        cached_tokens=min(cached, input_tokens),
    )


def price_call(config: ModelConfig, usage: Any) -> Cost:
    """The cost of one call from its reported usage, cached input priced as cached."""
    tokens = read_usage(usage)
    if config.price_in is not None and config.price_out is not None:
        cost = _config_cost(config, tokens, None)  # no per-call lookup: only the name is used
        return replace(cost, priced_as=_priced_as(config.model, config.base_url))
    table = _table_cost(config, tokens)
    if config.price_in is None and config.price_out is None:
        return table or Cost(0.0, 0.0, 0.0, 0.0, source="unknown")
    return _config_cost(config, tokens, table)


def worst_case_cost(config: ModelConfig, input_tokens: int, max_tokens: int | None = None) -> float:
    """The most a call could cost: every input token uncached and the longest reply.

    The reply length is `max_tokens`, else the config's `max_tokens`, else what is
    left of the context window. 0.0 for a model whose price is unknown.
    """
    output_tokens = max_tokens if max_tokens is not None else config.max_tokens
    if output_tokens is None:
        window = config.context_window or catalog_context_window(config.model, config.base_url)
        if window is None:
            raise ConfigError(
                f"model config {config.name!r}: no max_tokens and no known context window "
                f"for {config.model!r}; set max_tokens or context_window"
            )
        output_tokens = max(window - input_tokens, 0)
    return price_call(config, Usage(input_tokens, output_tokens)).usd


def catalog_context_window(model: str, base_url: str | None = None) -> int | None:
    """The context window genai-prices' table gives for `model`, if it knows one."""
    found = _catalog_entry(model, base_url)
    return found.model.context_window if found is not None else None


def _priced_as(model: str, base_url: str | None) -> str | None:
    """`provider:model` as the table knows `model`, if it does."""
    found = _catalog_entry(model, base_url)
    return f"{found.provider.id}:{found.model.id}" if found is not None else None


@lru_cache(maxsize=256)
def _catalog_entry(model: str, base_url: str | None) -> PriceCalculation | None:
    """The table's entry for `model` (looked up once): what does not depend on usage."""
    return _lookup(model, base_url, Usage())


def _table_cost(config: ModelConfig, tokens: Usage) -> Cost | None:
    found = _lookup(config.model, config.base_url, tokens)
    if found is None:
        return None
    cache_price = found.model_price.cache_read_mtok or found.model_price.input_mtok
    cached = calc_unit_price(cache_price, tokens.cached_tokens, tokens.input_tokens, _PER_MTOK)
    return Cost(
        usd=float(found.total_price),
        input_usd=float(max(found.input_price - cached, Decimal(0))),
        cached_usd=float(cached),
        output_usd=float(found.output_price),
        source="genai-prices",
        priced_as=f"{found.provider.id}:{found.model.id}",
    )


def _config_cost(config: ModelConfig, tokens: Usage, table: Cost | None) -> Cost:
    """Config rates where set; the table (or 0) for a rate the config leaves out."""
    uncached = tokens.input_tokens - tokens.cached_tokens
    if config.price_in is not None:
        input_usd = uncached * config.price_in / _PER_MTOK
        cached_usd = tokens.cached_tokens * config.price_in / _PER_MTOK
    else:
        input_usd, cached_usd = (table.input_usd, table.cached_usd) if table else (0.0, 0.0)
    if config.price_out is not None:
        output_usd = tokens.output_tokens * config.price_out / _PER_MTOK
    else:
        output_usd = table.output_usd if table else 0.0
    return Cost(
        usd=input_usd + cached_usd + output_usd,
        input_usd=input_usd,
        cached_usd=cached_usd,
        output_usd=output_usd,
        source="config",
        priced_as=table.priced_as if table else None,
    )


def _lookup(model: str, base_url: str | None, tokens: Usage) -> PriceCalculation | None:
    usage = genai_prices.Usage(
        input_tokens=tokens.input_tokens,
        cache_read_tokens=tokens.cached_tokens,
        output_tokens=tokens.output_tokens,
    )
    for ref, provider_id, api_url in _candidates(model, base_url):
        try:
            if api_url is not None:
                return genai_prices.calc_price(usage, ref, provider_api_url=api_url)
            return genai_prices.calc_price(usage, ref, provider_id=provider_id)
        except LookupError:
            continue
    return None


def _candidates(model: str, base_url: str | None) -> Iterator[tuple[str, str | None, str | None]]:
    """Where to look a model up: its endpoint's URL, its `provider/` prefix, its name."""
    if base_url:
        yield model, None, base_url
    provider, _, bare = model.partition("/")
    if bare:
        yield bare, provider, None
    yield model, None, None


def _get(obj: Any, *keys: str) -> Any:
    for key in keys:
        value = obj.get(key) if isinstance(obj, Mapping) else getattr(obj, key, None)
        if value is not None:
            return value
    return None


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and value > 0 else 0
