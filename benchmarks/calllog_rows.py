"""Count the call log's rows after many live `pytest evals` runs: every call must leave
exactly one row, with no warning, at full concurrency.

    python benchmarks/calllog_rows.py [--runs 20] [--cases 1000] [--concurrency 16]

Each run is `pytest evals --prompt-version=all --prompt-record=all` in a fresh interpreter
against a fake server in its own process (20 ms a call), `cases` × 2 versions calls, all
logged to the project's SQLite registry. Prints one JSON object; `run()` returns it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from _common import eval_project, reply, server_process


def _one_run(root: Path, concurrency: int) -> str:
    """One live run in a fresh interpreter, warnings shown; its stderr and warning lines."""
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "default",
         "evals", "--prompt-version=all", "--prompt-record=all",
         f"--prompt-concurrency={concurrency}"],
        cwd=root, env={**os.environ, "PYTHONWARNINGS": "default"},
        capture_output=True, text=True)  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"pytest failed:\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}")
    return "\n".join(line for line in (done.stdout + done.stderr).splitlines()
                     if "Warning" in line and "call log" in line)


def _rows(root: Path) -> int:
    engine = sa.create_engine(f"sqlite:///{root / '.promptkit' / 'promptkit.db'}")
    with engine.connect() as conn:
        count = conn.execute(sa.text("SELECT count(*) FROM promptkit_call_log")).scalar_one()
    engine.dispose()
    return int(count)


def run(runs: int = 20, cases: int = 1000, concurrency: int = 16) -> dict[str, Any]:
    per_run: list[int] = []
    warnings: list[str] = []
    with server_process(reply(0.02)) as base_url, tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        eval_project(root, cases, base_url, versions=("1.0.0", "2.0.0"))
        for _ in range(runs):
            before = _rows(root) if per_run else 0
            if found := _one_run(root, concurrency):
                warnings.append(found)
            per_run.append(_rows(root) - before)
        total = _rows(root)
    expected = runs * cases * 2
    return {"runs": runs, "calls_per_run": cases * 2, "concurrency": concurrency,
            "rows_expected": expected, "rows_stored": total,
            "runs_with_missing_rows": sum(1 for n in per_run if n != cases * 2),
            "call_log_warnings": warnings}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    json.dump(run(args.runs, args.cases, args.concurrency), sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
