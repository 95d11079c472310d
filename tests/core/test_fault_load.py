"""Must show: 400 calls through 30 % faults all succeed, in at most about twice the time of the
same calls without faults, with the default retry settings (benchmarks/faults.py reports the
figures; this holds them with slack for a loaded 2-core machine)."""

from __future__ import annotations

import asyncio
import statistics
import time

import pytest

from promptkit.core import AsyncClient, OutputSpec
from promptkit.testing import FakeOpenAIServer, Reply
from tests.core.conftest import ADA, ASK, PERSON, config_for

CALLS, CONCURRENCY, LATENCY_S, FAULT_RATE = 400, 16, 0.02, 0.3
PAIRS = 3
RATIO_BOUND = 2.5
"""The target is 2× (the benchmark's figure); the median of alternated runs must stay under
2.5× here so that a neighbour hogging the CPU does not fail the test."""
SCHEMA = OutputSpec(mode="json_schema", schema=PERSON)


async def _run(fault_rate: float, seed: int) -> tuple[float, int]:
    """The wall time of CALLS calls at CONCURRENCY, and how many returned the valid output."""
    reply = Reply(content=ADA, latency=LATENCY_S)
    with FakeOpenAIServer(default=reply, fault_rate=fault_rate, seed=seed) as server:
        async with AsyncClient([config_for(server)]) as client:
            gate = asyncio.Semaphore(CONCURRENCY)

            async def one() -> object:
                async with gate:
                    result = await client.call(ASK, config="main", output=SCHEMA)
                    return result.output

            started = time.perf_counter()
            outputs = await asyncio.gather(*(one() for _ in range(CALLS)))
            wall = time.perf_counter() - started
    return wall, sum(output == ADA for output in outputs)


@pytest.mark.slow
async def test_400_calls_through_30_percent_faults_all_succeed_within_twice_the_time() -> None:
    clean: list[float] = []
    faulty: list[float] = []
    for seed in range(PAIRS):
        wall, valid = await _run(0.0, seed)
        assert valid == CALLS
        clean.append(wall)
        wall, valid = await _run(FAULT_RATE, seed)
        assert valid == CALLS, f"{CALLS - valid} calls did not return valid output"
        faulty.append(wall)
    ratio = statistics.median(faulty) / statistics.median(clean)
    print(f"\n{CALLS} calls, c={CONCURRENCY}, {LATENCY_S * 1000:.0f} ms: clean {clean}, "
          f"faulty {faulty}; median ratio {ratio:.2f}")
    assert ratio <= RATIO_BOUND, (clean, faulty)
