"""The gate against answers that vary: false alarms, detections and calls per gate.

    python benchmarks/gate_noise.py [--trials 40] [--cases 200]

A fake OpenAI-compatible server on 127.0.0.1 answers every case right, except that each
answer is wrong at random with probability p (both versions alike, as a real model's are),
and a candidate version may be wrong on k cases every time, or on 20 cases half of the
time. Each trial is a whole `promptkit gate` (first pass, re-samples, verdict) with its
defaults and a new audit seed, every call made live (`--record all`). Nothing here is a
test: no figure fails a build.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import eval_project  # noqa: E402

from promptkit.config import load_settings  # noqa: E402
from promptkit.evals import EvalOptions, EvalSession  # noqa: E402
from promptkit.evals.gate import Thresholds  # noqa: E402
from promptkit.evals.gate_run import Gate  # noqa: E402
from promptkit.evals.sequential import Design  # noqa: E402
from promptkit.replay import RecordMode  # noqa: E402
from promptkit.testing.fake_server import FakeOpenAIServer  # noqa: E402
from promptkit.testing.replies import Reply  # noqa: E402

BASELINE = "1.0.0"
CANDIDATES = {  # version -> (cases wrong every time, cases wrong half of the time)
    "2.0.0": (0, 0), "2.4.0": (4, 0), "2.10.0": (10, 0), "2.20.0": (20, 0), "3.20.0": (0, 20),
}
NOISE = (0.0, 0.05, 0.10)
_VERSION = re.compile(r"Version ([\d.]+)\.")
_CASE = re.compile(r"text (\d+)")


class NoisyModel:
    """Right unless the version is scripted wrong on the case, or the noise strikes."""

    def __init__(self) -> None:
        self.p = 0.0
        self.rng = random.Random(0)

    def __call__(self, body: dict[str, Any], index: int) -> Reply:
        version = _VERSION.search(body["messages"][0]["content"]).group(1)  # type: ignore[union-attr]
        case = int(_CASE.search(body["messages"][-1]["content"]).group(1))  # type: ignore[union-attr]
        always, half = CANDIDATES.get(version, (0, 0))
        wrong = (case < always or (case < half and self.rng.random() < 0.5)
                 or self.rng.random() < self.p)
        return Reply(content={"label": "wrong" if wrong else "ok"})


def gate_once(root: Path, candidate: str, seed: int) -> tuple[str, int]:
    options = EvalOptions(record=RecordMode.ALL, concurrency=16)
    session = EvalSession(load_settings(root), options)
    gate = Gate(session, Thresholds(), Design(seed=seed))
    try:
        report = gate.run("bench", candidate=candidate, baseline=BASELINE)
    finally:
        session.finish()
    return report.verdict, report.stats.calls


def measure(trials: int, cases: int) -> list[dict[str, Any]]:
    model = NoisyModel()
    rows = []
    with FakeOpenAIServer(handler=model) as server, tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        eval_project(root, cases, server.base_url, versions=(BASELINE, *CANDIDATES))
        for p in NOISE:
            for candidate, (always, half) in CANDIDATES.items():
                model.p, model.rng = p, random.Random(f"{p}-{candidate}")
                started = time.perf_counter()
                runs = [gate_once(root, candidate, seed) for seed in range(trials)]
                verdicts = Counter(v for v, _ in runs)
                rows.append({
                    "p": p, "wrong_always": always, "wrong_half": half, "trials": trials,
                    "pass": verdicts["pass"] / trials,
                    "regression": verdicts["regression"] / trials,
                    "inconclusive": verdicts["inconclusive"] / trials,
                    "error": verdicts["error"] / trials,
                    "calls_per_gate": sum(c for _, c in runs) / trials,
                    "calls_vs_one_pass": sum(c for _, c in runs) / trials / (2 * cases),
                    "seconds": round(time.perf_counter() - started, 1),
                })  # fmt: skip
                print(_line(rows[-1]), flush=True)
    return rows


def _line(row: dict[str, Any]) -> str:
    scenario = (f"wrong on {row['wrong_always']} always" if not row["wrong_half"]
                else f"wrong on {row['wrong_half']} half the time")
    return (f"| {row['p']:.2f} | {scenario} | {row['pass']:.1%} | {row['regression']:.1%} | "
            f"{row['inconclusive']:.1%} | {row['calls_per_gate']:.0f} "
            f"({row['calls_vs_one_pass']:.2f}×) |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--cases", type=int, default=200)
    args = parser.parse_args()
    print(f"{args.cases} cases, {args.trials} gates per row, defaults (margin 2 pts, 95%, "
          f"budget 3 passes)\n")
    print("| p | candidate | pass | regression | inconclusive | calls per gate (× one pass) |")
    print("|---|---|---|---|---|---|")
    rows = measure(args.trials, args.cases)
    out = HERE / "results" / "gate_noise.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"cases": args.cases, "trials": args.trials, "rows": rows},
                              indent=2) + "\n")
    print(f"\nwritten to {out.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
