"""The same live workload through promptkit and promptfoo, on one machine, alternately.

N cases × 2 versions of the bench prompt, one JSON answer each, against the fake server in
its own process at a fixed latency: `pytest -q evals --prompt-version=all
--prompt-record=all` (promptkit, as users run it) and `promptfoo eval --no-cache` (the same
cases and prompts), each run `--runs` times, alternated, each process's wall and peak RSS
measured from outside (`_peak.py`). Reports medians, each wall as a ratio to the limit
(calls × latency ÷ concurrency), the versions and the machine.

    npm install -g promptfoo@0.123.1          # promptfoo 0.123 needs Node.js >= 22.22
    python benchmarks/promptfoo.py [--cases 1000] [--concurrency 16] [--latency-ms 50]
    PROMPTFOO="node22 /usr/lib/node_modules/promptfoo/dist/src/entrypoint.js" \\
        python benchmarks/promptfoo.py        # promptfoo run by another Node.js
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _common import eval_project, reply, server_process
from _peak import measure

VERSIONS = ("1.0.0", "2.0.0")


def promptfoo_project(root: Path, base_url: str) -> None:
    """promptfooconfig.yaml and tests.jsonl for the cases `eval_project` wrote: each version's
    prompt (without promptkit's schema instruction: the server answers alike), the same
    endpoint and model, and a JSON check of every answer."""
    rows = [json.loads(line) for line in (root / "evals" / "cases.jsonl").read_text().splitlines()]
    with (root / "tests.jsonl").open("w") as out:
        for row in rows:
            out.write(json.dumps({"vars": row["vars"], "assert": [{"type": "is-json"}]}) + "\n")
    prompts = [json.dumps([{"role": "system", "content": f"Label the text. Version {v}."},
                           {"role": "user", "content": "{{text}}"}]) for v in VERSIONS]
    config = {
        "prompts": prompts,
        "providers": [{"id": "openai:chat:bench-model",
                       "config": {"apiBaseUrl": base_url, "apiKey": "x",
                                  "response_format": {"type": "json_object"}}}],
        "tests": "file://tests.jsonl",
    }
    (root / "promptfooconfig.yaml").write_text(json.dumps(config, indent=2))  # YAML ⊃ JSON


def run(cases: int = 1000, concurrency: int = 16, latency_ms: float = 50.0,
        runs: int = 3) -> dict[str, Any]:
    promptfoo = shlex.split(os.environ.get("PROMPTFOO", "promptfoo"))
    env = {**os.environ, "PROMPTFOO_DISABLE_TELEMETRY": "1", "PROMPTFOO_DISABLE_UPDATE": "1",
           "PYTHONWARNINGS": "ignore"}
    limit = cases * len(VERSIONS) * latency_ms / 1000 / concurrency
    ours: list[dict[str, float]] = []
    theirs: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory() as folder, \
            server_process(reply(latency_ms / 1000)) as base_url:
        root = Path(folder)
        os.environ.update(env)  # `measure` passes its own environment on
        eval_project(root, cases, base_url, versions=VERSIONS)
        promptfoo_project(root, base_url)
        for _ in range(runs):
            ours.append(measure([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                 "evals", "--prompt-version=all", "--prompt-record=all",
                                 f"--prompt-concurrency={concurrency}"], cwd=folder))
            theirs.append(measure([*promptfoo, "eval", "--no-cache", "--no-write", "--no-table",
                                   "--max-concurrency", str(concurrency)], cwd=folder))
        version = subprocess.run([*promptfoo, "--version"], capture_output=True, text=True,
                                 cwd=folder, check=True).stdout.strip().splitlines()[-1]
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%MZ"),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "load": round(os.getloadavg()[0], 2), "python": platform.python_version(),
                    "promptfoo": version},
        "calls": cases * len(VERSIONS), "concurrency": concurrency, "latency_ms": latency_ms,
        "limit_s": round(limit, 3), "runs": runs,
        "promptkit": _summary(ours, limit), "promptfoo": _summary(theirs, limit),
    }


def _summary(runs: list[dict[str, float]], limit: float) -> dict[str, Any]:
    wall = statistics.median(r["wall_s"] for r in runs)
    return {"wall_s": round(wall, 2),
            "ratio_to_limit": round(wall / limit, 3) if limit else None,  # none at 0 ms
            "walls_s": [round(r["wall_s"], 2) for r in runs],
            "peak_rss_mb": statistics.median(r["peak_mb"] for r in runs)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    arguments = parser.parse_args()
    figures = json.dumps(run(arguments.cases, arguments.concurrency, arguments.latency_ms,
                             arguments.runs), indent=2)
    print(figures)
    if arguments.out is not None:
        arguments.out.write_text(figures + "\n")
