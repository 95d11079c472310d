"""Benchmark the resolver under a stalled registry: PostgreSQL behind a proxy that holds every
byte for `--stall` seconds (what a network dropping packets looks like to the application),
while the pin is moved on a direct connection.

    python benchmarks/registry_stall.py [--url POSTGRES_URL] [--stall 90]

Reports the slowest and 99th-percentile `get()` during the stall against its budget, when the
served version was first flagged stale, the warnings given, and how long after the stall
ended the moved pin was served. Prints one JSON object; `run()` returns the same dict.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

from _serving import fresh_schema, percentile
from sqlalchemy.engine import make_url

from promptkit.errors import StaleRegistryWarning
from promptkit.registry import Registry, Resolver
from promptkit.registry.resolver import DEFAULT_TIMEOUT_S, DEFAULT_WAIT_S
from promptkit.templates.library import PromptLibrary
from promptkit.testing import TcpProxy

PROMPTS = Path(__file__).resolve().parent.parent / "prompts"
REF = "sentiment@production"



def run(url: str, stall_s: float) -> dict[str, Any]:
    with fresh_schema(url, "bench_stall") as direct_url:
        return _measure(direct_url, stall_s)


def _measure(direct_url: str, stall_s: float) -> dict[str, Any]:
    direct = Registry(direct_url)
    direct.publish_library(PromptLibrary(PROMPTS), ["sentiment"], actor="benchmark")
    direct.pin("sentiment", "1.1.0", env="production", reason="setup", actor="benchmark")
    target = make_url(direct_url)
    proxy = TcpProxy((target.host or "127.0.0.1", target.port or 5432))
    proxied = target.set(port=proxy.port).render_as_string(hide_password=False)
    with tempfile.TemporaryDirectory() as cache:
        serving = Resolver(Registry(proxied), cache_dir=Path(cache))
        serving.get(REF)
        proxy.stall()
        stalled_at = time.monotonic()
        direct.pin("sentiment", "1.2.0", env="production", reason="during the stall",
                   actor="benchmark")
        times: list[float] = []
        first_stale: float | None = None
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            while time.monotonic() - stalled_at < stall_s:
                started = time.monotonic()
                got = serving.get(REF)
                times.append(time.monotonic() - started)
                if got.stale and first_stale is None:
                    first_stale = time.monotonic() - stalled_at
                time.sleep(0.005)
        proxy.resume()
        resumed_at = time.monotonic()
        while serving.get(REF).version != "1.2.0":
            time.sleep(0.001)
        seen_after = time.monotonic() - resumed_at
        proxy.stop()
        serving.registry.close()
    direct.close()
    stale = [str(w.message) for w in caught if issubclass(w.category, StaleRegistryWarning)]
    return {
        "stall_s": stall_s,
        "gets_during_stall": len(times),
        "budget_ms": DEFAULT_WAIT_S * 1000,
        "slowest_get_ms": round(max(times) * 1000, 2),
        "p99_get_ms": round(percentile(times, 0.99) * 1000, 3),
        "median_get_us": round(statistics.median(times) * 1e6, 1),
        "flagged_stale_after_s": round(first_stale, 2) if first_stale is not None else None,
        "outage_timeout_s": DEFAULT_TIMEOUT_S,
        "stale_warnings": len(stale),
        "moved_pin_served_after_resume_s": round(seen_after, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--stall", type=float, default=90.0)
    args = parser.parse_args()
    json.dump(run(args.url, args.stall), sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
