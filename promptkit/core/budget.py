"""The cost circuit breaker: each attempt reserves its worst case against USD budgets first.

    run = Budget(5.00, name="run")                       # shared by reference
    breaker = CostBreaker(per_call_usd=0.05, run=run, per_day_usd={"main": 20.0},
                          spent_today=db_sink.spent_on)  # today's spend from the call log
    client = Client(configs, hooks=[breaker])

Before every attempt (a retry or a re-ask included) the breaker estimates the attempt's
worst case: every input token uncached plus `max_tokens` of output, at the config's
prices. It reserves that amount in each budget that applies, atomically per budget, and
refuses with `BudgetExceededError` if `spent + reserved + estimate > limit` in any. After
the attempt the reservation becomes the actual cost, priced from the reported usage; a
response that began but reported no usage (a cut stream, a malformed body) is charged
its full estimate. Because in-flight attempts hold their reservations, the budgets stay
exact under any number of threads and tasks, and no retry loop can spend past them.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Literal

from promptkit.core.hooks import CallRecord, RoundContext, RoundOutcome
from promptkit.core.prices import price_call, worst_case_cost
from promptkit.core.results import Usage
from promptkit.core.tokens import count_message_tokens, count_tokens
from promptkit.errors import BudgetExceededError, ConfigError, UsageError

__all__ = [
    "ESTIMATE_MARGIN",
    "Budget",
    "CostBreaker",
    "Reservation",
    "attempt_cost",
    "attempt_worst_case",
]

_SCHEMA_PARAMS = ("tools", "response_format")
ESTIMATE_MARGIN = 1.25
"""Input tokens counted without the model's own tokenizer are raised by this factor."""


@dataclass
class Reservation:
    """An amount held in a budget by one attempt until it is settled."""

    budget: Budget
    amount_usd: float
    settled: bool = False


class Budget:
    """A USD limit with what was spent and what attempts in flight hold; thread-safe."""

    def __init__(self, limit_usd: float, *, spent_usd: float = 0.0, name: str = "run") -> None:
        if limit_usd < 0 or spent_usd < 0:
            raise UsageError("a budget's limit and spend must not be negative")
        self.limit_usd = float(limit_usd)
        self.name = name
        self._spent = float(spent_usd)
        self._reserved = 0.0
        self._open = 0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"Budget({self.name!r}, limit=${self.limit_usd:.6f}, spent=${self._spent:.6f}, "
            f"reserved=${self._reserved:.6f})"
        )

    @property
    def spent_usd(self) -> float:
        return self._spent

    @property
    def reserved_usd(self) -> float:
        return self._reserved

    def reserve(self, amount_usd: float) -> Reservation:
        """Hold `amount_usd`, or raise `BudgetExceededError` if it might not fit."""
        with self._lock:
            if self._spent + self._reserved + amount_usd > self.limit_usd:
                raise self._refusal(amount_usd)
            self._reserved += amount_usd
            self._open += 1
        return Reservation(self, amount_usd)

    def settle(self, reservation: Reservation, cost_usd: float) -> None:
        """Replace a reservation by what the attempt cost (once; later calls do nothing)."""
        with self._lock:
            if reservation.settled:
                return
            reservation.settled = True
            self._open -= 1
            held = self._reserved - reservation.amount_usd
            self._reserved = max(held, 0.0) if self._open else 0.0  # no float dust left
            self._spent += max(cost_usd, 0.0)

    def add(self, cost_usd: float) -> None:
        """Count spending that was not reserved (made outside the breaker)."""
        with self._lock:
            self._spent += max(cost_usd, 0.0)

    def _refusal(self, estimate: float) -> BudgetExceededError:
        message = (
            f"the {self.name} budget of ${self.limit_usd:.6f} could be exceeded: "
            f"${self._spent:.6f} spent, ${self._reserved:.6f} held by attempts in flight, "
            f"and this attempt could cost up to ${estimate:.6f}"
        )
        return BudgetExceededError(
            message,
            budget=self.name,
            limit_usd=self.limit_usd,
            spent_usd=self._spent,
            reserved_usd=self._reserved,
            estimate_usd=estimate,
        )


def attempt_worst_case(context: RoundContext) -> float:
    """The most the attempt about to be sent could cost, in USD.

    Input: the messages counted with the model's tokenizer plus the JSON of any tools or
    response format; a count made without the model's own tokenizer is raised by
    `ESTIMATE_MARGIN`. Output: the request's `max_tokens` (else the config's, else what
    the context window leaves).
    """
    config = context.config
    counted = count_message_tokens(context.messages, config.model)
    tokens, exact = counted.tokens, counted.exact
    for key in _SCHEMA_PARAMS:
        if key in context.request:
            schema = count_tokens(json.dumps(context.request[key]), config.model)
            tokens, exact = tokens + schema.tokens, exact and schema.exact
    if not exact:
        tokens = math.ceil(tokens * ESTIMATE_MARGIN)
    limit = context.request.get("max_tokens", context.request.get("max_completion_tokens"))
    return worst_case_cost(config, tokens, int(limit) if limit is not None else None)


def _utc_today() -> date:
    return datetime.now(UTC).date()


@dataclass(frozen=True)
class _Held:
    estimate: float
    reservations: tuple[Reservation, ...]


class CostBreaker:
    """A hook that refuses any attempt whose worst case could take a budget past its limit.

    Budgets: `per_call_usd` (a fresh budget for each call), `run` (one `Budget` shared by
    every call through this breaker, or several breakers), `per_day_usd` (a limit per
    model config name per UTC day, starting from `spent_today(config_name, day)`, e.g.
    the call log's `DatabaseSink.spent_on`). A model whose price is unknown cannot be
    bounded: `ConfigError`, unless `unknown_price="allow"` lets it through at no cost.
    """

    def __init__(
        self,
        *,
        per_call_usd: float | None = None,
        run: Budget | None = None,
        per_day_usd: Mapping[str, float] | None = None,
        spent_today: Callable[[str, date], float] | None = None,
        unknown_price: Literal["refuse", "allow"] = "refuse",
        today: Callable[[], date] = _utc_today,
    ) -> None:
        self.per_call_usd = per_call_usd
        self.run = run
        self.per_day_usd = dict(per_day_usd or {})
        self._spent_today = spent_today
        self._unknown_price = unknown_price
        self._today = today
        self._calls: dict[str, Budget] = {}
        self._days: dict[tuple[str, date], Budget] = {}
        self._held: dict[tuple[str, int], _Held] = {}
        self._lock = threading.Lock()

    def day_budget(self, config_name: str, day: date | None = None) -> Budget | None:
        """The per-day budget of a config (created from the call log on first use)."""
        limit = self.per_day_usd.get(config_name)
        if limit is None:
            return None
        key = (config_name, day or self._today())
        with self._lock:
            found = self._days.get(key)
        if found is not None:
            return found
        spent = self._spent_today(*key) if self._spent_today is not None else 0.0
        budget = Budget(limit, spent_usd=spent, name=f"day {config_name} {key[1].isoformat()}")
        with self._lock:
            self._days = {k: v for k, v in self._days.items() if k[1] == key[1]}
            return self._days.setdefault(key, budget)

    def before_round(self, context: RoundContext) -> None:
        self._check_price(context)
        estimate = attempt_worst_case(context)
        held: list[Reservation] = []
        try:
            for budget in self._budgets(context):
                held.append(budget.reserve(estimate))
        except BudgetExceededError:
            for reservation in held:
                reservation.budget.settle(reservation, 0.0)
            raise
        with self._lock:
            self._held[(context.call_id, context.number)] = _Held(estimate, tuple(held))

    def after_round(self, context: RoundContext, outcome: RoundOutcome) -> None:
        with self._lock:
            held = self._held.pop((context.call_id, context.number), None)
        if held is None:
            return
        cost = attempt_cost(context, outcome, held.estimate)
        for reservation in held.reservations:
            reservation.budget.settle(reservation, cost)

    def after_call(self, record: CallRecord) -> None:
        with self._lock:
            self._calls.pop(record.call_id, None)

    def _budgets(self, context: RoundContext) -> list[Budget]:
        budgets: list[Budget] = []
        if self.per_call_usd is not None:
            with self._lock:
                call = self._calls.get(context.call_id)
                if call is None:
                    call = self._calls[context.call_id] = Budget(self.per_call_usd, name="call")
            budgets.append(call)
        if self.run is not None:
            budgets.append(self.run)
        day = self.day_budget(context.config.name)
        if day is not None:
            budgets.append(day)
        return budgets

    def _check_price(self, context: RoundContext) -> None:
        if self._unknown_price == "allow":
            return
        if not price_call(context.config, Usage(1, 1)).known:
            raise ConfigError(
                f"model config {context.config.name!r}: the price of {context.config.model!r} "
                "is unknown, so no budget can bound it; set price_in and price_out "
                "(USD per 1M tokens), or CostBreaker(unknown_price='allow')"
            )


def attempt_cost(context: RoundContext, outcome: RoundOutcome, estimate: float) -> float:
    """What an attempt cost: its reported usage priced, plus its estimate for each response
    that may have been billed without saying how much."""
    usage = outcome.usage
    tokens = Usage(usage.input_tokens, usage.output_tokens, usage.cached_tokens)
    return price_call(context.config, tokens).usd + outcome.unreported * estimate

