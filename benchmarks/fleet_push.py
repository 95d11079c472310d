"""Benchmark rollback by push across a fleet: 20 serving processes on PostgreSQL, each
resolving in a loop (a `get()` every 2 ms, as a process serving requests does); the main
process rolls production back and forth; each process records when it first served the new
content. Reported: the delay from the rollback's commit to each switch (median, worst),
with push (LISTEN/NOTIFY) and without it (the ttl check alone, as when notifications are
lost), and `promptkit fleet`'s time to the last switch (from the heartbeats) against the
benchmark's own.

    python benchmarks/fleet_push.py [--url POSTGRES_URL] [--processes 20] [--rollbacks 20]

Prints one JSON object and writes it to benchmarks/results/fleet_push.json; `run()`
returns the same dict.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from _serving import follow, fresh_schema, percentile

from promptkit.registry import Registry, Resolver
from promptkit.registry.fleet import fleet_of
from promptkit.templates.library import PromptLibrary

PROMPTS = Path(__file__).resolve().parent.parent / "prompts"
RESULTS = Path(__file__).resolve().parent / "results" / "fleet_push.json"
NAME, ENV, TTL_S = "sentiment", "production", 0.5
VERSIONS = ("1.1.0", "1.2.0")


def _serve(url: str, push: bool, events: Any, stop: Any) -> None:
    """One serving process: `get()` every 2 ms; report each switch with its time."""
    resolver = Resolver(Registry(url), ttl=TTL_S, push=push, heartbeat_s=10.0)
    follow(resolver, NAME, ENV, events, stop, pause_s=0.002)
    resolver.close()



def _figures(delays: list[float]) -> dict[str, float]:
    return {"median_s": round(statistics.median(delays), 4),
            "p95_s": round(percentile(delays, 0.95), 4), "worst_s": round(max(delays), 4)}


def _fleet_last_switch(registry: Registry, target: str, processes: int) -> float | None:
    """`promptkit fleet`'s time to the last switch, once every process reported it."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        [entry] = fleet_of(registry, [NAME], ENV)
        switched = [p for p in entry.processes if p.version == target]
        if len(switched) >= processes and not entry.waiting and entry.last_switch_s is not None:
            return entry.last_switch_s
        time.sleep(0.05)
    return None


def measure(url: str, push: bool, processes: int, rollbacks: int) -> dict[str, Any]:
    """Roll back `rollbacks` times with `processes` serving; every switch's delay."""
    registry = Registry(url)
    context = multiprocessing.get_context("spawn")
    events, stop = context.Queue(), context.Event()
    fleet = [context.Process(target=_serve, args=(url, push, events, stop))
             for _ in range(processes)]
    for process in fleet:
        process.start()
    delays: list[float] = []
    rollback_worst: list[float] = []
    fleet_vs_own: list[dict[str, float | None]] = []
    try:
        current = {events.get(timeout=120)[1] for _ in fleet}.pop()
        time.sleep(1.0)  # every listener connected
        for i in range(rollbacks):
            time.sleep(random.uniform(0.3, 0.8))  # anywhere inside a ttl period
            target = VERSIONS[0] if current == VERSIONS[1] else VERSIONS[1]
            registry.rollback(NAME, env=ENV, to=target, reason=f"benchmark {i}",
                              actor="benchmark")
            committed = time.monotonic()
            seen = [events.get(timeout=30) for _ in fleet]
            assert all(kind == "seen" and version == target for kind, version, _ in seen)
            these = [max(0.0, at - committed) for _, _, at in seen]
            delays += these
            rollback_worst.append(max(these))
            if push:
                fleet_vs_own.append({"own_s": round(max(these), 4), "fleet_s": _round(
                    _fleet_last_switch(registry, target, processes))})
            current = target
    finally:
        stop.set()
        for process in fleet:
            process.join(timeout=30)
        registry.close()
    warm = delays[processes:]  # from the second rollback on, both versions are parsed
    return {"push": push, "processes": processes, "rollbacks": rollbacks, "switches":
            len(delays), **_figures(delays),
            "worst_after_the_first_rollback_s": round(max(warm), 4) if warm else None,
            "per_rollback_worst_s": [round(d, 4) for d in rollback_worst],
            **({"fleet_vs_benchmark": fleet_vs_own} if push else {})}


def _round(value: float | None) -> float | None:
    return round(value, 4) if value is not None else None


def _compared(pairs: list[dict[str, float | None]]) -> dict[str, Any]:
    """`promptkit fleet`'s time to the last switch beside the benchmark's, per rollback."""
    own = [float(p["own_s"] or 0) for p in pairs]
    shown = [float(p["fleet_s"] or 0) for p in pairs]
    gaps = [abs(a - b) for a, b in zip(own, shown, strict=True)]
    return {"rollbacks_reported": len(pairs),
            "fleet_median_s": _round(statistics.median(shown)) if pairs else None,
            "benchmark_median_s": _round(statistics.median(own)) if pairs else None,
            "median_abs_difference_s": _round(statistics.median(gaps)) if pairs else None,
            "worst_abs_difference_s": _round(max(gaps)) if pairs else None,
            "pairs": pairs}


def run(url: str, processes: int = 20, rollbacks: int = 20) -> dict[str, Any]:
    load_before = os.getloadavg()[0]
    with fresh_schema(url, "bench_push") as fresh:
        registry = Registry(fresh)
        registry.publish_library(PromptLibrary(PROMPTS), [NAME], actor="benchmark")
        for version in VERSIONS:
            registry.pin(NAME, version, env=ENV, reason="setup", actor="benchmark")
        registry.close()
        pushed = measure(fresh, True, processes, rollbacks)
        polled = measure(fresh, False, processes, rollbacks)
    pairs = [p for p in pushed.pop("fleet_vs_benchmark") if p["fleet_s"] is not None]
    return {
        "backend": "postgresql", "ttl_s": TTL_S, "cpus": os.cpu_count(),
        "load_average_1min": {"before": round(load_before, 2),
                              "after": round(os.getloadavg()[0], 2)},
        "push": pushed, "poll": polled,
        "fleet_time_to_last_switch": _compared(pairs),
        "targets": {"push_median_s": 0.1, "push_worst_s": 0.25, "poll_worst_s": 1.0},
        "verdict": {"push_median": pushed["median_s"] <= 0.1,
                    "push_worst": pushed["worst_s"] <= 0.25,
                    "poll_worst": polled["worst_s"] <= 1.0},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--processes", type=int, default=20)
    parser.add_argument("--rollbacks", type=int, default=20)
    args = parser.parse_args()
    result = run(args.url, args.processes, args.rollbacks)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    json.dump(result, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
