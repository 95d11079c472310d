"""The canary monitor: the canary arm against the stable arm on what production measures,
from the call log (failures, schema failures, re-asks, latency, cost, and the feedback the
application reports), looked at as often as anyone likes without inflating false alarms,
and acted on by a policy: abort (every request back to the pinned version, the ledger says
why), promote (through the environment's rules), or hold.

Each look compares each metric's mean per call, canary minus stable, with a Welch interval.
The looks spend the error rate as the gate's stages do: alpha(t) = alpha * t ** rho, with t
the canary calls counted over the policy's `max_calls` (Lan & DeMets 1983), split evenly
over the metrics (Bonferroni), so the chance that an equally good canary is ever aborted
stays under (1 - confidence) / 2, however often the monitor looks.

- **abort** when a metric is shown worse: the interval's worse end clears its tolerance
  (a rate: any rise; latency and cost: more than `max_latency_increase` /
  `max_cost_increase` of stable's; feedback: any drop);
- **promote** (or hold, `on_success = "hold"`) when every metric is shown within its margin
  (a rate: less than `margin` above stable's) after at least `min_calls` canary calls;
- **hold** otherwise; at `max_calls` undecided, hold and say so: a person decides.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from statistics import NormalDist
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from promptkit.config import Settings
from promptkit.errors import ApprovalPendingError, ConfigError
from promptkit.registry import Registry
from promptkit.registry.calllog_sink import call_log, feedback
from promptkit.registry.records import Canary

__all__ = ["ArmStats", "CanaryDecision", "CanaryPolicy", "Metric", "Moments", "SimulatedArm",
           "arm_stats", "check", "decide", "simulate"]

Action = Literal["abort", "promote", "hold"]
_NORMAL = NormalDist()
MONITOR = "promptkit canary monitor"
"""The actor of the monitor's own ledger rows."""


@dataclass(frozen=True)
class CanaryPolicy:
    """How the monitor decides (`[tool.promptkit] canary_*`, `PROMPTKIT_CANARY_*`)."""

    confidence: float = 0.95
    max_calls: int = 2000
    min_calls: int = 100
    margin: float = 0.02
    max_latency_increase: float = 0.25
    max_cost_increase: float = 0.25
    on_success: Literal["promote", "hold"] = "promote"
    spending: float = 2.0

    def __post_init__(self) -> None:
        if not 0.5 <= self.confidence < 1:
            raise ConfigError(f"canary_confidence is {self.confidence}: expected 0.5 to <1")
        if self.min_calls < 1 or self.max_calls < self.min_calls:
            raise ConfigError("canary_min_calls must be at least 1 and at most canary_max_calls")
        if self.on_success not in ("promote", "hold"):
            raise ConfigError(f"canary_on_success is {self.on_success!r}: promote or hold")

    @classmethod
    def from_settings(cls, settings: Settings) -> CanaryPolicy:
        fields = {"confidence": float, "max_calls": int, "min_calls": int, "margin": float,
                  "max_latency_increase": float, "max_cost_increase": float}
        values: dict[str, object] = {"on_success": settings.canary_on_success}
        for name, kind in fields.items():
            text = str(getattr(settings, f"canary_{name}"))
            try:
                values[name] = kind(text)
            except ValueError:
                raise ConfigError(f"setting canary_{name} (PROMPTKIT_CANARY_{name.upper()}) is "
                                  f"{text!r}: expected a number") from None
        return cls(**values)  # type: ignore[arg-type]

    def spent(self, calls: int) -> float:
        return min(1.0, calls / self.max_calls) ** self.spending


@dataclass(frozen=True)
class Moments:
    """A metric's count, sum and sum of squares on one arm."""

    n: int = 0
    total: float = 0.0
    squares: float = 0.0

    @property
    def mean(self) -> float:
        return self.total / self.n if self.n else 0.0

    def variance(self, binary: bool) -> float:
        if binary:  # Agresti-Caffo: a rate of 0 or 1 still has a spread
            p = (self.total + 1) / (self.n + 2)
            return p * (1 - p)
        if self.n < 2:
            return 0.0
        return max(0.0, (self.squares - self.total ** 2 / self.n) / (self.n - 1))


@dataclass(frozen=True)
class ArmStats:
    """What the call log says of one arm since the canary started."""

    calls: int
    metrics: Mapping[str, Moments]


@dataclass(frozen=True)
class Metric:
    """One metric's comparison at a look: canary minus stable, its interval, the verdict."""

    name: str
    canary: float
    stable: float
    low: float
    high: float
    verdict: Literal["worse", "fine", "open"]

    def line(self) -> str:
        return (f"{self.name}: canary {self.canary:.4g} vs stable {self.stable:.4g} "
                f"(difference {self.low:+.4g} to {self.high:+.4g}: {self.verdict})")


@dataclass(frozen=True)
class CanaryDecision:
    """What a look decided, why, and on how many canary calls."""

    action: Action
    reason: str
    calls: int
    metrics: tuple[Metric, ...] = ()
    request_id: int | None = None
    """Set when a promotion waits for approvals."""


_RATES = ("failures", "schema_failures", "reasks")
_HIGHER_IS_BETTER = ("feedback",)


def decide(stats: Mapping[str, ArmStats], policy: CanaryPolicy,
           looked_at: int) -> CanaryDecision:
    """The decision of a look at `stats` (arms `canary` and `stable`), `looked_at` being
    the canary calls of the previous look (whose share of the error rate is spent)."""
    canary, stable = stats.get("canary"), stats.get("stable")
    calls = canary.calls if canary else 0
    if canary is None or stable is None or calls < policy.min_calls or stable.calls < 2:
        return CanaryDecision("hold", f"{calls} canary calls so far; the first look is at "
                              f"{policy.min_calls}", calls)
    names = [m for m in canary.metrics if canary.metrics[m].n and stable.metrics[m].n]
    alpha = ((1 - policy.confidence) / 2 * (policy.spent(calls) - policy.spent(looked_at))
             / max(1, len(names)))
    z = _NORMAL.inv_cdf(1 - alpha) if alpha > 0 else math.inf
    metrics = tuple(_compare(m, canary.metrics[m], stable.metrics[m], z, policy) for m in names)
    worse = [m for m in metrics if m.verdict == "worse"]
    if worse:
        return CanaryDecision("abort", f"{worse[0].line()} after {calls} canary calls", calls,
                              metrics)
    if all(m.verdict == "fine" for m in metrics):
        action: Action = "promote" if policy.on_success == "promote" else "hold"
        return CanaryDecision(action, f"no metric worse than stable's after {calls} canary "
                              f"calls", calls, metrics)
    if calls >= policy.max_calls:
        return CanaryDecision("hold", f"undecided after {calls} canary calls (canary_max_calls "
                              f"{policy.max_calls}): promote or abort it by hand", calls, metrics)
    return CanaryDecision("hold", f"not decided yet after {calls} canary calls", calls, metrics)


def _compare(name: str, canary: Moments, stable: Moments, z: float,
             policy: CanaryPolicy) -> Metric:
    binary = name in _RATES
    diff = canary.mean - stable.mean
    se = math.sqrt(canary.variance(binary) / canary.n + stable.variance(binary) / stable.n)
    low, high = (diff - z * se, diff + z * se) if math.isfinite(z) else (-math.inf, math.inf)
    if name in _HIGHER_IS_BETTER:
        worse, fine = high < 0, low > -policy.margin
    else:
        tolerance = {"latency_s": policy.max_latency_increase,
                     "cost_usd": policy.max_cost_increase}.get(name)
        allowed = tolerance * stable.mean if tolerance is not None else 0.0
        worse = low > allowed
        fine = high < (allowed if tolerance is not None else policy.margin)
    return Metric(name, canary.mean, stable.mean, low, high,
                  "worse" if worse else "fine" if fine else "open")


def arm_stats(conn: Connection, canary: Canary) -> dict[str, ArmStats]:
    """Per arm, the calls logged for `canary`'s prompt and environment since it started."""
    c = call_log.c
    failed = sa.case((c.error_type.is_not(None), 1), else_=0)
    schema = sa.case((c.error_type == "OutputValidationError", 1), else_=0)
    reasked = sa.case((sa.func.coalesce(c.reasks, 0) > 0, 1), else_=0)
    ok = c.error_type.is_(None)
    columns = [c.arm, sa.func.count(), sa.func.sum(failed), sa.func.sum(schema),
               sa.func.sum(reasked)]
    for column in (c.latency_s, c.cost_usd):
        columns += [sa.func.sum(sa.case((ok, 1), else_=0)),
                    sa.func.sum(sa.case((ok, column), else_=0)),
                    sa.func.sum(sa.case((ok, column * column), else_=0))]
    where = (c.prompt == canary.name, c.label == canary.env,
             c.started_at >= canary.started_at, c.arm.is_not(None))
    rows = conn.execute(sa.select(*columns).where(*where).group_by(c.arm)).all()
    scores = _feedback(conn, where)
    return {row[0]: _arm(row, scores.get(row[0], Moments())) for row in rows}


def _arm(row: tuple[object, ...], scores: Moments) -> ArmStats:
    n = int(row[1])  # type: ignore[call-overload]
    values = [float(v or 0) for v in row[2:]]  # type: ignore[arg-type]
    metrics = {name: Moments(n, values[i], values[i]) for i, name in enumerate(_RATES)}
    metrics["latency_s"] = Moments(int(values[3]), values[4], values[5])
    metrics["cost_usd"] = Moments(int(values[6]), values[7], values[8])
    if scores.n:
        metrics["feedback"] = scores
    return ArmStats(n, metrics)


def _feedback(conn: Connection, where: tuple[sa.ColumnElement[bool], ...]) -> dict[str, Moments]:
    score = feedback.c.score
    query = (sa.select(call_log.c.arm, sa.func.count(), sa.func.sum(score),
                       sa.func.sum(score * score))
             .select_from(feedback.join(call_log, call_log.c.id == feedback.c.call_id))
             .where(*where).group_by(call_log.c.arm))
    return {r[0]: Moments(int(r[1]), float(r[2] or 0), float(r[3] or 0))
            for r in conn.execute(query)}


def check(registry: Registry, name: str, env: str, policy: CanaryPolicy) -> CanaryDecision:
    """One look at `name`'s canary in `env`, acted on: abort, promote or hold."""
    running = next((c for c in registry.canaries([name]) if c.env == env), None)
    if running is None:
        return CanaryDecision("hold", f"{name} has no canary running in {env}", 0)
    with registry.engine.connect() as conn:
        stats = arm_stats(conn, running)
    decision = decide(stats, policy, running.looked_at)
    if decision.action == "abort":
        registry.abort_canary(name, env=env, actor=MONITOR,
                              reason=f"automatic abort: {decision.reason}")
    elif decision.action == "promote":
        return _promote(registry, name, env, decision)
    elif decision.calls >= policy.min_calls:
        registry.record_canary_look(name, env, decision.calls)
    return decision


def _promote(registry: Registry, name: str, env: str,
             decision: CanaryDecision) -> CanaryDecision:
    try:
        registry.promote_canary(name, env=env, actor=MONITOR,
                                reason=f"automatic promotion: {decision.reason}")
    except ApprovalPendingError as pending:
        registry.record_canary_look(name, env, decision.calls)
        return CanaryDecision("hold", f"{decision.reason}; the promotion waits for approval "
                              f"(request #{pending.request_id})", decision.calls,
                              decision.metrics, pending.request_id)
    return decision


class SimulatedArm:
    """An arm whose calls fail at `fail_rate` and take about `latency_s` (a normal spread of
    0.2 s): the figures the call log would give, call by call."""

    def __init__(self, fail_rate: float, rng: random.Random, latency_s: float = 1.0) -> None:
        self.fail_rate, self.rng, self.latency_s = fail_rate, rng, latency_s
        self.calls = self.failures = 0
        self.latency = Moments()

    def serve(self, calls: int) -> None:
        for _ in range(calls):
            self.calls += 1
            if self.rng.random() < self.fail_rate:
                self.failures += 1
                continue
            x = self.rng.gauss(self.latency_s, 0.2)
            lat = self.latency
            self.latency = Moments(lat.n + 1, lat.total + x, lat.squares + x * x)

    def stats(self) -> ArmStats:
        ok = self.calls - self.failures
        rate = Moments(self.calls, self.failures, self.failures)
        return ArmStats(self.calls, {"failures": rate, "schema_failures": rate,
                                     "reasks": Moments(self.calls), "latency_s": self.latency,
                                     "cost_usd": Moments(ok, ok * 0.001, ok * 1e-6)})


def simulate(canary_rate: float, stable_rate: float, policy: CanaryPolicy, *, seed: int,
             percent: float = 10.0, every: int = 25) -> tuple[Action, int]:
    """What the monitor would do with a canary failing at `canary_rate` against a stable arm
    failing at `stable_rate`, looking every `every` canary calls: (action, canary calls at
    the decision). Run it over seeds to choose a policy: how many calls an abort takes, how
    often an equally good canary is aborted."""
    rng = random.Random(seed)
    canary = SimulatedArm(canary_rate, random.Random(rng.random()))
    stable = SimulatedArm(stable_rate, random.Random(rng.random()))
    ratio = (100 - percent) / percent
    looked = 0
    for calls in range(every, policy.max_calls + 1, every):
        canary.serve(every)
        stable.serve(round(calls * ratio) - stable.calls)
        decision = decide({"canary": canary.stats(), "stable": stable.stats()}, policy, looked)
        if decision.action != "hold":
            return decision.action, calls
        looked = calls if calls >= policy.min_calls else looked
    return "hold", policy.max_calls
