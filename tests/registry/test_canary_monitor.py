"""The canary monitor: an equally good canary is almost never aborted however often it is
looked at; a worse one (failures, schema failures, latency, feedback) is aborted, by
itself, with the reason in the ledger; a good one is promoted through the rules. The arms'
figures come from the call log, on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import contextlib
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from promptkit.cli import cli
from promptkit.core import Client
from promptkit.core.calllog import CallLog, CallLogEntry
from promptkit.errors import OutputValidationError
from promptkit.evals.canary import (
    ArmStats,
    CanaryPolicy,
    Moments,
    SimulatedArm,
    arm_stats,
    check,
    decide,
    simulate,
)
from promptkit.registry import Registry, Resolver
from promptkit.registry.calllog_sink import DatabaseSink
from promptkit.registry.feedback import feedback
from promptkit.templates.library import PromptLibrary
from promptkit.testing import FakeOpenAIServer
from promptkit.testing.replies import Reply
from tests.support import server_config

POLICY = CanaryPolicy(min_calls=50, max_calls=1000)


def watch(canary_rate: float, stable_rate: float, seed: int,
          policy: CanaryPolicy = POLICY) -> tuple[str, int]:
    return simulate(canary_rate, stable_rate, policy, seed=seed)


def test_an_equally_good_canary_is_not_aborted_however_often_it_is_looked_at() -> None:
    outcomes = [watch(0.05, 0.05, seed)[0] for seed in range(300)]
    aborted = outcomes.count("abort")
    assert aborted <= 300 * 0.05  # the bound is 2.5%; 5% leaves room for this sample
    # within 1,000 canary calls a 5% rate is pinned down to about the 2-point margin: some
    # are shown good (promoted), the rest held for a person; none of them harmed
    assert outcomes.count("promote") >= 100


def test_a_canary_five_points_worse_is_aborted_within_the_budget() -> None:
    policy = CanaryPolicy(min_calls=50)  # the default budget: 2,000 canary calls
    runs = [watch(0.10, 0.05, seed, policy) for seed in range(100)]
    assert all(action == "abort" for action, _ in runs), runs
    assert max(calls for _, calls in runs) <= policy.max_calls


def test_each_metric_can_abort_and_the_reason_names_it() -> None:
    rng = random.Random(1)
    slow, fast = SimulatedArm(0.0, rng, latency_s=2.0), SimulatedArm(0.0, rng)
    slow.serve(400)
    fast.serve(3600)
    decision = decide({"canary": slow.stats(), "stable": fast.stats()}, POLICY, 0)
    assert decision.action == "abort" and decision.reason.startswith("latency_s: canary 1.9")
    scored = {name: ArmStats(a.calls, {**a.metrics, "feedback": Moments(300, s, s)})
              for (name, a), s in zip(arm_pair(rng).items(), (120.0, 240.0), strict=True)}
    decision = decide(scored, POLICY, 0)
    assert decision.action == "abort" and decision.reason.startswith("feedback: canary 0.4")
    assert decide(arm_pair(rng, calls=20), POLICY, 0).reason == (
        "20 canary calls so far; the first look is at 50")


def arm_pair(rng: random.Random, calls: int = 400) -> dict[str, ArmStats]:
    canary, stable = SimulatedArm(0.0, rng), SimulatedArm(0.0, rng)
    canary.serve(calls)
    stable.serve(calls * 9)
    return {"canary": canary.stats(), "stable": stable.stats()}


def test_the_arms_figures_come_from_the_call_log(registry: Registry,
                                                 library: PromptLibrary) -> None:
    registry.publish_library(library, ["sentiment"])
    registry.pin("sentiment", "1.1.0", env="production", reason="stable")
    registry.canary("sentiment", "1.2.0", env="production", percent=10, reason="try")
    sink = DatabaseSink(engine=registry.engine)
    later = datetime.now(UTC) + timedelta(seconds=1)
    entries = [entry(f"s{i}", "stable", later, error=i < 2, latency=1.0 + i % 2)
               for i in range(10)]
    entries += [entry(f"c{i}", "canary", later, error=i < 3, latency=2.0) for i in range(5)]
    entries.append(entry("old", "canary", later - timedelta(days=1)))  # before it started
    sink.write(entries)
    feedback("c4", 1.0, registry=registry)
    feedback("s9", 0.5, registry=registry)
    with registry.engine.connect() as conn:
        stats = arm_stats(conn, registry.canaries()[0])
    canary, stable = stats["canary"], stats["stable"]
    assert (canary.calls, stable.calls) == (5, 10)
    assert canary.metrics["failures"].total == 3 and stable.metrics["failures"].total == 2
    assert canary.metrics["schema_failures"].total == 3
    assert stable.metrics["latency_s"] == Moments(8, 12.0, 20.0)  # 4 x 1.0 and 4 x 2.0
    assert canary.metrics["feedback"] == Moments(1, 1.0, 1.0)
    assert stable.metrics["feedback"] == Moments(1, 0.5, 0.25)


def entry(call_id: str, arm_name: str, at: datetime, *, error: bool = False,
          latency: float = 1.0) -> CallLogEntry:
    return CallLogEntry(
        id=call_id, started_at=at, run_id="r", prompt="sentiment", version="x",
        content_hash=None, label="production", config_name="default", model="m", config={},
        request={}, temperature_requested=None, temperature_effective=None, messages=[],
        raw_output="{}", parsed_output=None, finish_reason="stop", input_tokens=1,
        output_tokens=1, cached_tokens=0, cost_usd=0.001, cost_source="config",
        latency_s=latency, first_token_s=None, attempt_count=1, attempts=[], request_id=None,
        error_type="OutputValidationError" if error else None, error="bad" if error else None,
        arm=arm_name)


class Versions:
    """The fake endpoint: 1.2.0 (its system message names the domain) breaks the schema
    `canary_rate` of the time, 1.1.0 `stable_rate`."""

    def __init__(self, canary_rate: float, stable_rate: float, seed: int = 7) -> None:
        self.rates = (canary_rate, stable_rate)
        self.rng = random.Random(seed)

    def __call__(self, body: dict[str, Any], index: int) -> Reply:
        system = str(body["messages"][0]["content"])
        rate = self.rates[0] if "product reviews" in system else self.rates[1]
        if self.rng.random() < rate:
            return Reply(content="not json at all")
        return Reply(content={"sentiment": "positive", "confidence": 0.9, "reasoning": "r"})


def serve(registry: Registry, handler: Versions, calls: int, every: int,
          policy: CanaryPolicy) -> tuple[list[str], int]:
    """`calls` requests from distinct users through a resolver and a logged client, the
    monitor looking every `every` requests; the decisions, and the requests made."""
    resolver, sink = Resolver(registry, ttl=0.05), DatabaseSink(engine=registry.engine)
    log = CallLog([sink], handle_sigterm=False, flush_interval_s=0.01)
    decisions: list[str] = []
    with FakeOpenAIServer(handler=handler) as server, Client(
            [server_config(server, "default", model="gpt-4o-mini")], hooks=[log]) as client:
        for i in range(calls):
            with contextlib.suppress(OutputValidationError):  # logged, and counted
                client.call_prompt(resolver.get("sentiment", "production", key=f"u{i}"),
                                   {"text": "I love it"})
            if (i + 1) % every == 0:
                log.flush()
                decision = check(registry, "sentiment", "production", policy)
                decisions.append(decision.action)
                if decision.action != "hold":
                    break
    log.close()
    return decisions, i + 1


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_worse_canary_is_aborted_by_itself_and_the_ledger_says_why(
    registry: Registry, library: PromptLibrary,
) -> None:
    registry.publish_library(library, ["sentiment"])
    registry.pin("sentiment", "1.1.0", env="production", reason="stable")
    registry.canary("sentiment", "1.2.0", env="production", percent=10, reason="try")
    policy = CanaryPolicy(min_calls=20, max_calls=400)
    decisions, calls = serve(registry, Versions(0.6, 0.0), 6000, 100, policy)
    assert decisions[-1] == "abort", decisions
    last = registry.history("sentiment", "production")[-1]
    assert (last.action, last.actor, last.to_version) == (
        "abort", "promptkit canary monitor", "1.1.0")
    assert last.reason.startswith("automatic abort: ")
    assert registry.canaries() == [] and calls < 6000
    versions = {Resolver(registry).get("sentiment", "production", key=f"u{i}").version
                for i in range(100)}
    assert versions == {"1.1.0"}  # every request back on the pinned version


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_good_canary_is_promoted_and_the_cli_says_so(
    registry: Registry, library: PromptLibrary, project: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    registry.publish_library(library, ["sentiment"])
    registry.pin("sentiment", "1.1.0", env="production", reason="stable")
    monkeypatch.setenv("PROMPTKIT_DB_URL", registry.url)
    run = CliRunner().invoke(cli, ["canary", "sentiment", "1.2.0", "--env", "production",
                                   "--percent", "20", "--reason", "try it"])
    assert run.exit_code == 0 and "canary 1.2.0" in run.stdout and "20% of requests" in (
        run.stdout)
    serve(registry, Versions(0.0, 0.0), 600, 600, CanaryPolicy(min_calls=10_000,
                                                               max_calls=20_000))
    monkeypatch.setenv("PROMPTKIT_CANARY_MIN_CALLS", "20")
    status = CliRunner().invoke(cli, ["canary", "sentiment", "--env", "production"])
    assert "  canary: " in status.stdout and "  stable: " in status.stdout
    # 1.2.0's worked examples make each call cost 37% more: the default policy (25%) aborts
    assert "abort: cost_usd: canary " in status.stdout  # what a look would decide, not done
    for name, value in (("MIN_CALLS", "20"), ("MAX_CALLS", "200"),
                        ("MAX_LATENCY_INCREASE", "5"), ("MAX_COST_INCREASE", "0.5"),
                        ("MARGIN", "0.05")):
        monkeypatch.setenv(f"PROMPTKIT_CANARY_{name}", value)
    looked = CliRunner().invoke(cli, ["canary", "sentiment", "--env", "production", "--check"])
    assert looked.exit_code == 0, looked.output
    assert looked.stdout.startswith("promote: no metric worse than stable's")
    assert registry.current("sentiment", "production").version == "1.2.0"  # type: ignore[union-attr]
