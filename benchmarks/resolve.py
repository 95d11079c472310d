"""Benchmark the registry resolver: resolve-from-cache latency, and how long a rollback
takes to reach another process that is resolving in a loop.

    python benchmarks/resolve.py [--url DB_URL] [--calls N] [--rollbacks N]

Prints one JSON object. `run()` returns the same dict for a benchmark runner.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _serving import follow, percentile

from promptkit.registry import Registry, Resolver
from promptkit.registry.resolver import DEFAULT_TTL_S
from promptkit.templates.library import PromptLibrary

PROMPTS = Path(__file__).resolve().parent.parent / "prompts"
NAME, ENV = "sentiment", "production"



def _prepare(url: str) -> Registry:
    registry = Registry(url)
    registry.publish_library(PromptLibrary(PROMPTS), [NAME], actor="benchmark")
    for version in ("1.0.0", "1.1.0", "1.2.0"):
        registry.pin(NAME, version, env=ENV, reason="benchmark setup", actor="benchmark")
    return registry


def resolve_from_cache(url: str, calls: int) -> dict[str, Any]:
    """Per-call latency of `Resolver.get` on a warm cache, default ttl (so the periodic
    change check is included, as in a real service)."""
    resolver = Resolver(Registry(url))
    resolver.get(NAME, env=ENV)
    clock, samples = time.perf_counter_ns, []
    for _ in range(calls):
        started = clock()
        resolver.get(NAME, env=ENV)
        samples.append((clock() - started) / 1000)
    return {"calls": calls, "p50_us": round(percentile(samples, 0.50), 3),
            "p99_us": round(percentile(samples, 0.99), 3),
            "max_us": round(max(samples), 1), "ttl_s": resolver.ttl}


def _follower(url: str, events: Any, stop: Any) -> None:
    """The other process: resolve in a loop, report each version change with its time."""
    follow(Resolver(Registry(url)), NAME, ENV, events, stop)


def rollback_propagation(url: str, rollbacks: int) -> dict[str, Any]:
    """Seconds from a committed pin move to the first resolve that returns it elsewhere."""
    registry = Registry(url)
    context = multiprocessing.get_context("spawn")
    events, stop = context.Queue(), context.Event()
    follower = context.Process(target=_follower, args=(url, events, stop))
    follower.start()
    delays: list[float] = []
    try:
        _, current, _ = events.get(timeout=60)
        for i in range(rollbacks):
            time.sleep(random.uniform(0, DEFAULT_TTL_S))
            target = "1.1.0" if current == "1.2.0" else "1.2.0"
            registry.rollback(NAME, env=ENV, to=target, reason=f"benchmark {i}",
                              actor="benchmark")
            committed = time.monotonic()
            _, current, seen = events.get(timeout=30)
            delays.append(seen - committed)
    finally:
        stop.set()
        follower.join(timeout=30)
    return {"rollbacks": rollbacks, "median_s": round(statistics.median(delays), 3),
            "max_s": round(max(delays), 3), "delays_s": [round(d, 3) for d in delays],
            "ttl_s": DEFAULT_TTL_S}


def run(url: str | None = None, calls: int = 20_000, rollbacks: int = 5) -> dict[str, Any]:
    """Both measurements against `url` (default: a fresh SQLite file)."""
    with tempfile.TemporaryDirectory() as folder:
        url = url or f"sqlite:///{Path(folder) / 'bench.db'}"
        _prepare(url).close()
        return {
            "backend": url.split(":", 1)[0],
            "resolve_cached": resolve_from_cache(url, calls),
            "rollback_propagation": rollback_propagation(url, rollbacks),
        }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=None, help="registry URL (default: temporary SQLite)")
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--rollbacks", type=int, default=5)
    args = parser.parse_args(argv)
    json.dump(run(args.url, args.calls, args.rollbacks), sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
