"""Replay through pytest: N recorded cases run offline with `pytest evals`; wall time and
per-item cost beside N trivial parametrized pytest items in the same environment (the
floor any pytest-based runner pays).

    python benchmarks/replay.py [--cases 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import PROMPT, config, reply, server_process

SUITE = "prompt: bench\ndataset: cases.jsonl\nassert:\n  - schema\n"


def _project(root: Path, cases: int, base_url: str) -> None:
    (root / "prompts" / "bench").mkdir(parents=True)
    (root / "prompts" / "bench" / "1.0.0.prompt").write_text(PROMPT.format(version="1.0.0"))
    (root / "evals").mkdir()
    (root / "evals" / "bench.yaml").write_text(SUITE)
    rows = (json.dumps({"id": f"c{i}", "vars": {"text": f"text {i}"},
                        "expect": {"label": "ok"}}) for i in range(cases))
    (root / "evals" / "cases.jsonl").write_text("\n".join(rows) + "\n")
    model = config(base_url)
    (root / "pyproject.toml").write_text(
        "[tool.promptkit.models.bench]\n"
        f'model = "{model.model}"\nbase_url = "{base_url}"\napi_key_env = ""\n'
        'capability = "json_object"\nprice_in = 0\nprice_out = 0\n')
    (root / "test_floor.py").write_text(
        f"import pytest\n\n@pytest.mark.parametrize('i', range({cases}))\n"
        "def test_floor(i):\n    assert i >= 0\n")


def _pytest(root: Path, *args: str) -> float:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           *args], cwd=root, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"pytest {' '.join(args)} failed:\n{done.stdout[-3000:]}")
    return wall


def run(cases: int = 10_000) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        with server_process(reply(0.0)) as base_url:
            _project(root, cases, base_url)
            record = _pytest(root, "evals", "--prompt-record=once", "--prompt-concurrency=32")
        replay_wall = _pytest(root, "evals")  # the server is gone: replay only
        floor = _pytest(root, "test_floor.py")
    return {"cases": cases, "record_s": round(record, 2), "replay_s": round(replay_wall, 2),
            "replay_ms_per_item": round(replay_wall / cases * 1000, 3),
            "plain_pytest_s": round(floor, 2),
            "plain_pytest_ms_per_item": round(floor / cases * 1000, 3),
            "ratio_to_plain_pytest": round(replay_wall / floor, 2)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=10_000)
    print(json.dumps(run(parser.parse_args().cases), indent=2))
