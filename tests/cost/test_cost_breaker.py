"""The cost breaker: worst case reserved before every attempt, actual cost settled after, so
call, run and day budgets hold under concurrency and no retry loop spends past them."""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from promptkit.core import (
    AsyncClient,
    Budget,
    CallLog,
    CircuitBreaker,
    Client,
    CostBreaker,
    ModelConfig,
    OutputSpec,
    RetryPolicy,
    RoundContext,
    Usage,
)
from promptkit.core.budget import ESTIMATE_MARGIN, attempt_worst_case
from promptkit.core.calllog import CallLogEntry
from promptkit.core.prices import price_call
from promptkit.core.tokens import count_message_tokens
from promptkit.errors import BudgetExceededError, ConfigError
from promptkit.registry.calllog_sink import DatabaseSink, read_calls
from promptkit.testing import FakeOpenAIServer, Reply
from tests.streaming.conftest import FAST, MODEL, billed, config_for

LIMIT = 0.001
PRICED = {"price_in": 0.5, "price_out": 2.0, "max_tokens": 20}  # USD per 1M tokens


def ask(i: int) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"Question number {i}: what is {i} squared?"}]


def worst_case(config: ModelConfig, i: int = 0) -> float:
    context = RoundContext(config=config, kind="first", number=0, messages=ask(i),
                             request={"model": config.model, "max_tokens": config.max_tokens},
                             spent=Usage(), elapsed_s=0.0)  # fmt: skip
    return attempt_worst_case(context)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[DatabaseSink]:
    sink = DatabaseSink(f"sqlite:///{tmp_path / 'calls.db'}")
    yield sink
    sink.close()


def test_reservations_are_exact_across_threads() -> None:
    budget = Budget(1.0)
    step = 1 / 1024  # a binary fraction: the sums are exact, so the count is too
    granted = []

    def spend() -> None:
        for _ in range(300):
            try:
                reservation = budget.reserve(step)
            except BudgetExceededError:
                continue
            granted.append(1)
            budget.settle(reservation, step)

    threads = [threading.Thread(target=spend) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(granted) == 1024 and budget.spent_usd == 1.0 and budget.reserved_usd == 0.0


def test_a_refusal_carries_the_limit_the_spend_and_the_estimate() -> None:
    budget = Budget(0.01, spent_usd=0.004, name="run")
    held = budget.reserve(0.005)
    with pytest.raises(BudgetExceededError, match=r"run budget of \$0.010000") as caught:
        budget.reserve(0.002)
    error = caught.value
    assert (error.budget, error.limit_usd, error.spent_usd, error.reserved_usd,
            error.estimate_usd) == ("run", 0.01, 0.004, 0.005, 0.002)  # fmt: skip
    budget.settle(held, 0.001)
    budget.settle(held, 0.001)  # settling twice changes nothing
    assert budget.spent_usd == pytest.approx(0.005) and budget.reserved_usd == 0.0
    assert budget.reserve(0.004).amount_usd == 0.004


async def test_a_run_budget_stops_before_it_is_exceeded(db: DatabaseSink) -> None:
    """Must show: a run with a $0.001 budget stops before exceeding it; the logged costs
    sum to at most the budget. 100 calls, 20 at a time, with 429s and 500s to retry."""
    faults = (Reply(status=429, retry_after=0, error_code="rate_limit_exceeded"),
              Reply(status=500))  # fmt: skip
    with FakeOpenAIServer(handler=billed("An answer.", latency=0.005), fault_rate=0.2,
                          faults=faults, seed=4) as server:  # fmt: skip
        config = config_for(server, **PRICED)
        run = Budget(LIMIT)
        log = CallLog([db], handle_sigterm=False)
        gate = asyncio.Semaphore(20)
        breaker = CircuitBreaker(failure_threshold=10_000)  # faults here are not an outage
        hooks = [CostBreaker(run=run), log]
        retry = RetryPolicy(max_attempts=8, backoff_base_s=0.01, backoff_cap_s=0.05)
        async with AsyncClient([config], hooks=hooks, retry=retry, breaker=breaker) as client:

            async def one(i: int) -> str:
                async with gate:
                    try:
                        await client.call(ask(i), config="main")
                    except BudgetExceededError:
                        return "refused"
                    return "ok"

            outcomes = await asyncio.gather(*(one(i) for i in range(100)))
        log.close()
        requests = len(server.chat_requests)
    calls = read_calls(db.engine)
    logged = float(calls["cost_usd"].sum())
    assert len(calls) == 100, "refused calls are logged too"
    assert 0 < outcomes.count("ok") < 100
    assert calls["error_type"].fillna("ok").value_counts().to_dict() == {
        "ok": outcomes.count("ok"), "BudgetExceededError": outcomes.count("refused")}  # fmt: skip
    assert logged <= LIMIT
    assert run.spent_usd == pytest.approx(logged, abs=1e-12) and run.reserved_usd == 0.0
    assert LIMIT - logged < worst_case(config) * 20, "stopped near the limit, not far below"
    assert int(calls["attempt_count"].sum()) == requests
    print(f"\n{outcomes.count('ok')} calls ran, {outcomes.count('refused')} refused; "
          f"logged ${logged:.6f} of ${LIMIT}; {requests} requests")


def test_a_run_budget_shared_by_threads_is_exact(db: DatabaseSink) -> None:
    with FakeOpenAIServer(handler=billed("An answer.", latency=0.002)) as server:
        config = config_for(server, **PRICED)
        run = Budget(LIMIT / 4)
        log = CallLog([db], handle_sigterm=False)

        def worker(offset: int) -> None:
            with Client([config], hooks=[CostBreaker(run=run), log]) as client:
                for i in range(offset, offset + 15):
                    with contextlib.suppress(BudgetExceededError):
                        client.call(ask(i), config="main")

        threads = [threading.Thread(target=worker, args=(n * 100,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        log.close()
    calls = read_calls(db.engine)
    assert len(calls) == 60
    assert calls["cost_usd"].sum() <= LIMIT / 4
    assert run.spent_usd == pytest.approx(calls["cost_usd"].sum(), abs=1e-12)


def test_a_per_call_budget_stops_a_reask_loop(server: FakeOpenAIServer) -> None:
    """A retry loop can never spend past its budget: here re-asks after invalid output."""
    config = config_for(server, **PRICED)
    server.handler = billed("not json at all", completion_tokens=20)
    breaker = CostBreaker(per_call_usd=5 * worst_case(config))
    output = OutputSpec(mode="json_object")
    with Client([config], hooks=[breaker]) as client, \
            pytest.raises(BudgetExceededError) as caught:  # fmt: skip
        client.call(ask(0), config="main", output=output, max_reasks=10)
    error = caught.value
    sent = len(server.chat_requests)
    assert 2 <= sent < 10 and len(error.attempts) == sent, "stopped by money, not re-asks"
    assert error.budget == "call" and error.spent_usd is not None
    assert error.estimate_usd is not None and error.limit_usd is not None
    assert error.spent_usd + error.estimate_usd > error.limit_usd >= error.spent_usd
    assert error.usage.output_tokens == 20 * sent
    usage = Usage(error.usage.input_tokens, error.usage.output_tokens)
    assert price_call(config, usage).usd == pytest.approx(error.spent_usd)
    assert breaker._calls == {}, "the call's budget is dropped when the call ends"


def test_a_response_without_usage_is_charged_its_worst_case(server: FakeOpenAIServer) -> None:
    config = config_for(server, **PRICED)
    server.enqueue(Reply(malformed=True))
    server.handler = billed("An answer.")
    run = Budget(1.0)
    with Client([config], hooks=[CostBreaker(run=run)], retry=FAST) as client:
        result = client.call(ask(1), config="main")
    actual = price_call(config, Usage(result.usage.input_tokens, result.usage.output_tokens))
    assert [a.error_type for a in result.attempts] == ["MalformedResponse", None]
    assert run.spent_usd == pytest.approx(worst_case(config, 1) + actual.usd)


def test_a_day_budget_starts_from_todays_spend_in_the_call_log(
    server: FakeOpenAIServer, db: DatabaseSink
) -> None:
    config, other = config_for(server, **PRICED), config_for(server, "other", **PRICED)
    server.handler = billed("An answer.")
    with CallLog([db], handle_sigterm=False) as log, \
            Client([config, other], hooks=[log]) as client:  # fmt: skip
        for i in range(3):
            client.call(ask(i), config="main")
    (entry_row,) = read_calls(db.engine, limit=1).to_dict("records")
    spent = db.spent_on("main")
    assert spent == pytest.approx(read_calls(db.engine)["cost_usd"].sum()) and spent > 0
    yesterday = datetime.now(UTC) - timedelta(days=1)
    old = CallLogEntry(**{**_entry_fields(entry_row), "id": "old", "started_at": yesterday,
                          "cost_usd": 5.0})  # fmt: skip
    db.write([old])
    assert db.spent_on("main") == pytest.approx(spent), "yesterday does not count"
    assert db.spent_on("main", yesterday.date()) == 5.0

    breaker = CostBreaker(per_day_usd={"main": spent + 0.5 * worst_case(config)},
                          spent_today=db.spent_on)  # fmt: skip
    with Client([config, other], hooks=[breaker]) as client:
        with pytest.raises(BudgetExceededError, match="day main") as caught:
            client.call(ask(9), config="main")
        assert caught.value.spent_usd == pytest.approx(spent)
        assert client.call(ask(9), config="other").output == "An answer."
    assert len(server.chat_requests) == 4


def _entry_fields(row: dict[str, object]) -> dict[str, object]:
    fields = {k: v for k, v in row.items() if k != "meta"}
    return {**fields, "metadata": row["meta"]}


def test_an_unknown_price_cannot_be_bounded(server: FakeOpenAIServer) -> None:
    unknown = config_for(server, model="house-model-7b", max_tokens=50)
    server.handler = billed("An answer.")
    with Client([unknown], hooks=[CostBreaker(run=Budget(1.0))]) as client, \
            pytest.raises(ConfigError, match="price of 'house-model-7b' is unknown"):  # fmt: skip
        client.call(ask(0), config="main")
    assert server.chat_requests == []
    allowed = CostBreaker(run=Budget(1.0), unknown_price="allow")
    with Client([unknown], hooks=[allowed]) as client:
        assert client.call(ask(0), config="main").output == "An answer."


def test_no_max_tokens_and_no_window_cannot_be_bounded(server: FakeOpenAIServer) -> None:
    config = config_for(server, model="house-model-7b", price_in=1.0, price_out=1.0)
    with Client([config], hooks=[CostBreaker(run=Budget(1.0))]) as client, \
            pytest.raises(ConfigError, match="set max_tokens or context_window"):  # fmt: skip
        client.call(ask(0), config="main")


def test_the_estimate_counts_the_schema_and_pads_inexact_counts() -> None:
    exact = ModelConfig(name="a", model=MODEL, price_in=1.0, price_out=0.0, max_tokens=1)
    tokens = count_message_tokens(ask(0), MODEL).tokens
    assert worst_case(exact) == pytest.approx(tokens / 1e6)
    inexact = exact.model_copy(update={"model": "house-model-7b"})
    guessed = count_message_tokens(ask(0), "house-model-7b")
    assert not guessed.exact
    assert worst_case(inexact) == pytest.approx(math.ceil(guessed.tokens * ESTIMATE_MARGIN) / 1e6)
    schema = {"type": "json_schema", "json_schema": {"name": "o", "schema": {"type": "object"}}}
    context = RoundContext(config=exact, kind="first", number=0, messages=ask(0),
                             request={"max_tokens": 1, "response_format": schema},
                             spent=Usage(), elapsed_s=0.0)  # fmt: skip
    assert attempt_worst_case(context) > worst_case(exact)
