"""Every promptkit benchmark in one command: a table on stdout and JSON in results/.

    python benchmarks/run.py [--quick]

Each figure is a ratio to a theoretical limit or to a baseline measured in the same run
(a bare `openai` SDK loop, plain pytest items), against a fake OpenAI-compatible server on
127.0.0.1 in its own process. Nothing here is a test: no figure fails a build.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import memory  # noqa: E402
import overhead  # noqa: E402
import replay  # noqa: E402
import resolve  # noqa: E402
import throughput  # noqa: E402
from _common import row  # noqa: E402


def measure(quick: bool) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    cases = 200 if quick else 1000
    raw: dict[str, Any] = {
        "throughput": throughput.run(cases),
        "overhead": overhead.run(600 if quick else 2000),
        "resolve": resolve.run(),
        "replay": replay.run(1000 if quick else 10_000),
        "memory": memory.run(cases),
    }
    return _rows(raw), raw


def _rows(raw: dict[str, Any]) -> list[dict[str, Any]]:
    t, o, r, p, m = (raw[k] for k in ("throughput", "overhead", "resolve", "replay", "memory"))
    resolve_cache, rollback = r["resolve_cached"], r["rollback_propagation"]
    return [
        row("eval runner wall ÷ limit, c=16, 50 ms (bare SDK)", f"{t['c16']['ratio']} "
            f"({t['c16']['bare_sdk_ratio']})", "≤ 1.3", t["c16"]["ratio"] <= 1.3),
        row("pytest evals --prompt-record=all, c=16, 50 ms: calls ÷ limit; whole command",
            f"{t['c16']['pytest_calls_ratio']}; {t['c16']['pytest_ratio']}", "—; ≤ 1.15",
            t["c16"]["pytest_ratio"] <= 1.15),
        row("pytest evals --prompt-record=all, c=4, 50 ms: calls ÷ limit; whole command",
            f"{t['c4']['pytest_calls_ratio']}; {t['c4']['pytest_ratio']}", "—; ≤ 1.05",
            t["c4"]["pytest_ratio"] <= 1.05),
        row("eval wall ÷ limit, c=4, 50 ms (bare SDK)", f"{t['c4']['ratio']} "
            f"({t['c4']['bare_sdk_ratio']})", "≤ 1.15", t["c4"]["ratio"] <= 1.15),
        row("calls/s at 0 ms: promptkit ÷ bare SDK",
            f"{t['zero_latency']['share_of_bare']} ({t['zero_latency']['promptkit_calls_per_s']}"
            f" vs {t['zero_latency']['bare_sdk_calls_per_s']}/s)", "≥ 0.80",
            t["zero_latency"]["share_of_bare"] >= 0.8),
        row("calls/s at 0 ms: whole pytest command; its calls phase ÷ bare SDK",
            f"{t['zero_latency']['pytest_command_share_of_bare']}; "
            f"{t['zero_latency']['pytest_calls_phase_share_of_bare']}", "≥ 0.5; ≥ 0.8",
            t["zero_latency"]["pytest_command_share_of_bare"] >= 0.5
            and t["zero_latency"]["pytest_calls_phase_share_of_bare"] >= 0.8),
        row("core overhead per call, no call log (µs)", o["without_log"]["added_us"], "< 300",
            o["without_log"]["added_us"] < 300),
        row("core overhead per call, call log on (µs)", o["with_call_log"]["added_us"], "< 500",
            o["with_call_log"]["added_us"] < 500),
        row("resolve from cache p50 / p99 (µs)",
            f"{resolve_cache['p50_us']} / {resolve_cache['p99_us']}", "p50 < 50",
            resolve_cache["p50_us"] < 50),
        row("rollback seen by another process (s, median / max)",
            f"{rollback['median_s']} / {rollback['max_s']}", "< 1", rollback["max_s"] < 1),
        row(f"replay {p['cases']} cases via pytest (s; ms/item)",
            f"{p['replay_s']}; {p['replay_ms_per_item']}", "—", None),
        row("replay per item ÷ plain pytest item", p["ratio_to_plain_pytest"], "≤ 2",
            p["ratio_to_plain_pytest"] <= 2),
        row(f"replay {p['cases']} cases: peak RSS (MB; plain pytest)",
            f"{p['replay_peak_rss_mb']} ({p['plain_pytest_peak_rss_mb']})", "—", None),
        row(f"peak memory, eval runner, {m['calls']} calls (MB; bare SDK)",
            f"{m['promptkit_peak_mb']} ({m['bare_sdk_peak_mb']})", "< 150",
            m["promptkit_peak_mb"] < 150),
    ]


def machine() -> dict[str, Any]:
    return {"python": platform.python_version(), "platform": platform.platform(),
            "cpus": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2),
            "when": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| figure | value | target | verdict |", "|---|---|---|---|"]
    lines += [f"| {r['figure']} | {r['value']} | {r['target']} | {r['verdict']} |" for r in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller runs, for a smoke test")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "latest.json")
    args = parser.parse_args()
    rows, raw = measure(args.quick)
    info = machine()
    print(table(rows))
    print(f"\nmachine: {info}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": info, "rows": rows, "raw": raw}, indent=2) + "\n")
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
