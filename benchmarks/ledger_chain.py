"""What the hash chain adds to a pin move: moves with the chain, alternated in blocks with
moves that take a plain row lock instead of the chain's head (as moves did before the chain)
and write no hashes, in the same process and database.

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
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

import promptkit.registry.pins as pins
from promptkit.db.engine import inserted_id
from promptkit.registry import Registry
from promptkit.registry.chain import LedgerHead
from promptkit.registry.chained import ChainWriter
from promptkit.registry.schema import CHAINED_TABLES, prompts
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


class _Unchained(ChainWriter):
    """A move without the chain: the prompt's row locked (as before the chain), the row
    inserted without hashes, no head to update, no database user asked."""

    @classmethod
    def lock(cls, conn: Connection) -> ChainWriter:
        conn.execute(sa.select(prompts.c.name).where(prompts.c.name == "sentiment")
                     .with_for_update()).first()
        return cls(conn, LedgerHead(None, None), None)

    def append(self, kind: str, values: Mapping[str, Any]) -> int:
        return inserted_id(self.conn.execute(CHAINED_TABLES[kind].insert().values(**values)))


def run(url: str, moves: int = 400) -> dict[str, Any]:
    registry = Registry(url)
    registry.publish_library(PromptLibrary(PROMPTS), ["sentiment"], actor="benchmark")
    chained: list[float] = []
    plain: list[float] = []
    for _ in range(max(1, moves // (2 * BLOCK))):
        chained += _moves(registry, BLOCK)
        pins.ChainWriter = _Unchained  # type: ignore[misc]
        try:
            plain += _moves(registry, BLOCK)
        finally:
            pins.ChainWriter = ChainWriter  # type: ignore[misc]
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
