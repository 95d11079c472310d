"""Replay through pytest: N recorded cases run offline with `pytest evals`; wall time, peak
RSS (of the pytest process, from outside it) and per-item cost beside N trivial parametrized
pytest items in the same environment (the floor any pytest-based runner pays).

    python benchmarks/replay.py [--cases 10000] [--rounds 3]
    python benchmarks/replay.py --cases 100000 --rounds 1   # the memory figure: RSS ≤ 500 MB
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

from _common import eval_project, reply, run_pytest, run_pytest_rss, server_process


def run(cases: int = 10_000, rounds: int = 3) -> dict[str, Any]:
    """Record `cases`, then replay them and run as many plain items, alternately, `rounds`
    times: medians, so that the machine's drift hits both sides alike."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        with server_process(reply(0.0)) as base_url:
            eval_project(root, cases, base_url)
            record, _ = run_pytest(root, "evals", "--prompt-record=once",
                                   "--prompt-concurrency=32")
        (root / "test_floor.py").write_text(
            f"import pytest\n\n@pytest.mark.parametrize('i', range({cases}))\n"
            "def test_floor(i):\n    assert i >= 0\n")
        replays, floors = [], []
        for _ in range(rounds):
            replays.append(run_pytest_rss(root, "evals"))  # no server: replay only
            floors.append(run_pytest_rss(root, "test_floor.py"))
    replay_wall = statistics.median(r[0] for r in replays)
    floor = statistics.median(f[0] for f in floors)
    ratios = sorted(r[0] / f[0] for r, f in zip(replays, floors, strict=True))
    return {"cases": cases, "rounds": rounds, "record_s": round(record, 2),
            "replay_s": round(replay_wall, 2),
            "replay_ms_per_item": round(replay_wall / cases * 1000, 3),
            "plain_pytest_s": round(floor, 2),
            "plain_pytest_ms_per_item": round(floor / cases * 1000, 3),
            "ratio_to_plain_pytest": round(replay_wall / floor, 2),
            "ratio_per_round": [round(r, 2) for r in ratios],
            "replay_peak_rss_mb": max(r[2] for r in replays),
            "plain_pytest_peak_rss_mb": max(f[2] for f in floors)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3, help="replays and plain runs, alternated")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    arguments = parser.parse_args()
    figures = json.dumps(run(arguments.cases, arguments.rounds), indent=2)
    print(figures)
    if arguments.out is not None:
        arguments.out.write_text(figures + "\n")
