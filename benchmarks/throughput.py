"""Eval throughput against the limit: N cases × 2 versions at latency L with concurrency C
take at least N·2·L/C; report wall ÷ limit (the median of `RUNS`) for the eval runner, for
the whole `pytest evals --prompt-version=all --prompt-record=all` command as users run it
(interpreter start, collection, calls, recordings, call log, results stored), and for a bare
`openai.AsyncOpenAI` loop against the same server in the same run; and calls per second at
zero latency beside that bare loop, for the runner and for the whole pytest command.

    python benchmarks/throughput.py [--cases 1000] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openai
from _common import ANSWER, config, eval_project, items, reply, run_pytest_rss, server_process

from promptkit.core import AsyncClient
from promptkit.evals import EvalRunner


async def _promptkit(base_url: str, cases: int, concurrency: int) -> float:
    runner = EvalRunner(AsyncClient([config(base_url)]), concurrency=concurrency)
    work = items(cases)
    started = time.perf_counter()
    results = await runner.run_many(work)
    wall = time.perf_counter() - started
    await runner.client.aclose()
    assert all(r.passed for r in results), "a benchmark case failed"
    return wall


async def _bare_sdk(base_url: str, cases: int, concurrency: int) -> float:
    """The same requests straight through the SDK (messages rendered beforehand): no
    validation, no records, no assertions."""
    sdk = openai.AsyncOpenAI(base_url=base_url, api_key="x", max_retries=0)
    gate = asyncio.Semaphore(concurrency)
    requests = [item.prompt.render(item.case.variables) for item in items(cases)]

    async def one(messages: list[dict[str, Any]]) -> None:
        async with gate:
            response = await sdk.chat.completions.create(
                model="bench-model", response_format={"type": "json_object"},
                messages=messages)
            assert json.loads(response.choices[0].message.content or "") == ANSWER

    started = time.perf_counter()
    await asyncio.gather(*(one(m) for m in requests))
    wall = time.perf_counter() - started
    await sdk.close()
    return wall


RUNS = 3


def _through_pytest(base_url: str, cases: int, concurrency: int) -> tuple[float, float, float]:
    """`pytest evals` calling the server live (recording every answer): the wall of the
    whole process, of the calls as the plugin reports it (start of the first call to the
    last result; interpreter start, imports and collection excluded), and the process's
    peak RSS in MB (from outside it)."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        eval_project(root, cases, base_url, versions=("1.0.0", "2.0.0"))
        wall, out, rss = run_pytest_rss(root, "evals", "--prompt-version=all",
                                        "--prompt-record=all",
                                        f"--prompt-concurrency={concurrency}")
    found = re.search(r"(\d+) items in ([\d.]+) s", out)
    if found is None or int(found.group(1)) != cases * 2:
        raise RuntimeError(f"no timing line for {cases * 2} items in:\n{out[-2000:]}")
    return wall, float(found.group(2)), rss


def _median(measure: Callable[[], float]) -> float:
    return statistics.median(measure() for _ in range(RUNS))


def limit_ratio(cases: int, latency_s: float, concurrency: int,
                pytest_too: bool = True) -> dict[str, Any]:
    limit = cases * 2 * latency_s / concurrency
    figures: dict[str, Any] = {"cases": cases, "versions": 2, "latency_ms": latency_s * 1000,
                               "concurrency": concurrency, "limit_s": round(limit, 3)}
    with server_process(reply(latency_s)) as base_url:
        wall = _median(lambda: asyncio.run(_promptkit(base_url, cases, concurrency)))
        bare = _median(lambda: asyncio.run(_bare_sdk(base_url, cases, concurrency)))
        figures.update(wall_s=round(wall, 3), ratio=round(wall / limit, 3),
                       bare_sdk_ratio=round(bare / limit, 3))
        if pytest_too:
            runs = sorted(_through_pytest(base_url, cases, concurrency) for _ in range(RUNS))
            total, calls, rss = runs[len(runs) // 2]
            figures.update(pytest_wall_s=round(total, 3), pytest_ratio=round(total / limit, 3),
                           pytest_calls_s=round(calls, 3),
                           pytest_calls_ratio=round(calls / limit, 3), pytest_peak_rss_mb=rss)
    return figures


def zero_latency(calls: int, concurrency: int = 16) -> dict[str, Any]:
    """Calls per second at 0 ms: the runner, and the whole `pytest evals` command (and its
    calls phase alone), each beside the bare SDK loop measured in the same run."""
    with server_process(reply(0.0)) as base_url:
        asyncio.run(_bare_sdk(base_url, 25, concurrency))  # warm up
        bare = asyncio.run(_bare_sdk(base_url, calls // 2, concurrency))
        wall = asyncio.run(_promptkit(base_url, calls // 2, concurrency))
        command, phase, _ = _through_pytest(base_url, calls // 2, concurrency)
    ours, theirs = calls / wall, calls / bare
    return {"calls": calls, "promptkit_calls_per_s": round(ours, 1),
            "bare_sdk_calls_per_s": round(theirs, 1), "share_of_bare": round(ours / theirs, 3),
            "pytest_command_calls_per_s": round(calls / command, 1),
            "pytest_command_share_of_bare": round(calls / command / theirs, 3),
            "pytest_calls_phase_per_s": round(calls / phase, 1),
            "pytest_calls_phase_share_of_bare": round(calls / phase / theirs, 3)}


def run(cases: int = 1000, runs: int = RUNS) -> dict[str, Any]:
    global RUNS
    RUNS = runs
    return {
        "c16": limit_ratio(cases, 0.05, 16),
        "c4": limit_ratio(cases, 0.05, 4),
        "zero_latency": zero_latency(cases * 2),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=RUNS, help="runs per figure (median)")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    arguments = parser.parse_args()
    figures = json.dumps(run(arguments.cases, arguments.runs), indent=2)
    print(figures)
    if arguments.out is not None:
        arguments.out.write_text(figures + "\n")
