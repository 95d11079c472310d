"""Calls through faults, with promptkit's one retry schedule at its default settings.

    python benchmarks/faults.py [--calls 400] [--concurrency 16] [--runs 5]

N calls with a JSON-schema output at concurrency C against a fake OpenAI-compatible server
(in its own process) answering in 20 ms, once clean and once with 30 % of requests faulty:
10 % 429 with Retry-After 0.1 s, 10 % 500, 5 % connection resets, 5 % malformed bodies
(`DEFAULT_FAULTS` at `fault_rate=0.3`). Clean and faulty runs alternate, each faulty one
with a new seed; the figure is the median faulty wall ÷ the median clean wall (target ≤ 2),
with every call's output schema-valid. Nothing here is a test (tests/core/test_fault_load.py
is): no figure fails a build. Results go to results/faults.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import ANSWER, server_process  # noqa: E402

from promptkit.core import AsyncClient, ModelConfig, OutputSpec  # noqa: E402
from promptkit.testing import Reply  # noqa: E402

LATENCY_S = 0.02
FAULT_RATE = 0.3
SCHEMA = OutputSpec(mode="json_schema", schema={
    "type": "object", "properties": {"label": {"type": "string"}},
    "required": ["label"], "additionalProperties": False})
ASK = [{"role": "user", "content": "Label this text."}]


async def _calls(base_url: str, calls: int, concurrency: int) -> dict[str, Any]:
    """`calls` calls with default client settings: the wall, the valid outputs, the attempts."""
    config = ModelConfig(name="bench", model="bench-model", base_url=base_url, api_key_env="")
    gate = asyncio.Semaphore(concurrency)
    async with AsyncClient([config]) as client:

        async def one() -> Any:
            async with gate:
                return await client.call(ASK, config="bench", output=SCHEMA)

        started = time.perf_counter()
        results = await asyncio.gather(*(one() for _ in range(calls)), return_exceptions=True)
        wall = time.perf_counter() - started
    ok = [r for r in results if not isinstance(r, BaseException) and r.output == ANSWER]
    failed = Counter(type(r).__name__ for r in results if isinstance(r, BaseException))
    attempts = sum(len(r.attempts) for r in ok)
    return {"wall_s": wall, "valid": len(ok), "failed": dict(failed), "attempts": attempts}


def _one_run(calls: int, concurrency: int, fault_rate: float, seed: int) -> dict[str, Any]:
    with server_process(Reply(content=ANSWER, latency=LATENCY_S), fault_rate=fault_rate,
                        seed=seed) as base_url:
        asyncio.run(_calls(base_url, concurrency, concurrency))  # warm up connections
        return asyncio.run(_calls(base_url, calls, concurrency))


def run(calls: int = 400, concurrency: int = 16, runs: int = 5) -> dict[str, Any]:
    clean: list[dict[str, Any]] = []
    faulty: list[dict[str, Any]] = []
    for seed in range(runs):
        clean.append(_one_run(calls, concurrency, 0.0, seed))
        faulty.append(_one_run(calls, concurrency, FAULT_RATE, seed))
    clean_s = statistics.median(r["wall_s"] for r in clean)
    faulty_s = statistics.median(r["wall_s"] for r in faulty)
    return {
        "calls": calls, "concurrency": concurrency, "latency_ms": LATENCY_S * 1000,
        "fault_rate": FAULT_RATE, "runs": runs,
        "clean_wall_s": round(clean_s, 3), "faulty_wall_s": round(faulty_s, 3),
        "ratio": round(faulty_s / clean_s, 3),
        "ratio_per_run": [round(f["wall_s"] / c["wall_s"], 3)
                          for c, f in zip(clean, faulty, strict=True)],
        "valid_per_faulty_run": [r["valid"] for r in faulty],
        "failed_per_faulty_run": [r["failed"] for r in faulty],
        "attempts_per_faulty_run": [r["attempts"] for r in faulty],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    figures = run(args.calls, args.concurrency, args.runs)
    print(json.dumps(figures, indent=2))
    out = HERE / "results" / "faults.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"\nwritten to {out.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
