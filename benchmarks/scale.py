"""Scale curve of the pytest path: `pytest evals --collect-only`, a live run (recording, the
server answering at once) and a replayed run of one suite with a JSONL dataset of 1k, 10k
and 100k cases (one prompt version); wall seconds and peak RSS of each pytest process,
measured from outside (`_peak.py`), per case.

    python benchmarks/scale.py [--sizes 1000 10000 100000] [--no-replay]

Writes benchmarks/results/scale.json. Growth is linear when the per-case figures of the
increments (10k - 1k, 100k - 10k) stay level.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PYTEST = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "evals"]


def _pytest(root: Path, *args: str) -> dict[str, float]:
    from _peak import measure

    os.environ["PYTHONWARNINGS"] = "ignore"
    return measure([*PYTEST, *args], cwd=str(root))


def one_size(cases: int, replay: bool) -> dict[str, Any]:
    """Collection (and a replayed run) of `cases` cases, in a fresh project."""
    from _common import eval_project, reply, server_process

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        with server_process(reply(0.0)) as base_url:
            eval_project(root, cases, base_url)
            figures: dict[str, Any] = {"cases": cases,
                                       "collect": _pytest(root, "--collect-only")}
            if replay:  # live: every case called (0 ms) and recorded
                figures["live"] = _pytest(root, "--prompt-record=once",
                                          "--prompt-concurrency=32")
        if replay:  # the server is gone: replay only
            figures["replay"] = _pytest(root)
    return figures


def increments(rows: list[dict[str, Any]], phase: str) -> list[dict[str, Any]]:
    """Per-case cost between consecutive sizes: ms and KB per added case."""
    steps = []
    for small, large in itertools.pairwise(rows):
        if phase not in small or phase not in large:
            continue
        added = large["cases"] - small["cases"]
        steps.append({"from": small["cases"], "to": large["cases"],
                      "ms_per_case": round((large[phase]["wall_s"] - small[phase]["wall_s"])
                                           / added * 1000, 4),
                      "kb_per_case": round((large[phase]["peak_mb"] - small[phase]["peak_mb"])
                                           * 1024 / added, 2)})
    return steps


def run(sizes: list[int], replay: bool = True) -> dict[str, Any]:
    rows = [one_size(n, replay) for n in sizes]
    return {"path": "pytest plugin: `pytest evals` (--collect-only, live and recording, then "
                    "replayed from the recordings), one suite of a JSONL dataset, one prompt "
                    "version",
            "measured": "wall and peak RSS of each pytest process, from outside (_peak.py)",
            "sizes": rows, "collect_increments": increments(rows, "collect"),
            "live_increments": increments(rows, "live"),
            "replay_increments": increments(rows, "replay")}


def main() -> None:
    sys.path.insert(0, str(HERE))
    from run import machine

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--no-replay", action="store_true", help="collection only")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "scale.json")
    args = parser.parse_args()
    result = {"machine": machine(), **run(args.sizes, not args.no_replay)}
    print(json.dumps(result, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
