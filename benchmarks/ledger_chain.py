"""What the ledger's hash chain adds to a pin move: moves with the chain, alternated in
blocks with moves whose chain steps are skipped, in the same process and database.

    python benchmarks/ledger_chain.py [--url DB_URL] [--moves 400]

Prints one JSON object (`run()` returns it): the median move with and without the chain,
and the difference in milliseconds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import promptkit.registry.pins as pins
from promptkit.registry import Registry
from promptkit.templates.library import PromptLibrary

PROMPTS = Path(__file__).resolve().parent.parent / "prompts"
BLOCK = 25


def _moves(registry: Registry, count: int) -> list[float]:
    times = []
    for i in range(count):
        started = time.perf_counter()
        registry.pin("sentiment", ("1.0.0", "1.1.0")[i % 2], env="production", reason="bench",
                     actor="benchmark")
        times.append(time.perf_counter() - started)
    return times


def _unchained() -> Any:
    link, advance = pins.chain_link, pins.advance_head
    pins.chain_link = lambda conn, row: {"prev_hash": None, "row_hash": None}  # type: ignore
    pins.advance_head = lambda conn, ledger_id, row_hash: None  # type: ignore
    return link, advance


def run(url: str, moves: int = 400) -> dict[str, Any]:
    registry = Registry(url)
    registry.publish_library(PromptLibrary(PROMPTS), ["sentiment"], actor="benchmark")
    chained: list[float] = []
    plain: list[float] = []
    for _ in range(max(1, moves // (2 * BLOCK))):
        chained += _moves(registry, BLOCK)
        link, advance = _unchained()
        try:
            plain += _moves(registry, BLOCK)
        finally:
            pins.chain_link, pins.advance_head = link, advance
    registry.close()
    with_chain, without = statistics.median(chained), statistics.median(plain)
    return {"url": url.split("@")[-1], "moves_each": len(plain),
            "median_move_ms_with_chain": round(with_chain * 1000, 3),
            "median_move_ms_without": round(without * 1000, 3),
            "chain_adds_ms": round((with_chain - without) * 1000, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=None)
    parser.add_argument("--moves", type=int, default=400)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.url or f"sqlite:///{folder}/bench.db"
        json.dump(run(url, args.moves), sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
