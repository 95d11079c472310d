"""Shared pieces of the benchmarks: a fake OpenAI-compatible server, synthetic eval items."""

from __future__ import annotations

import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from promptkit.core import ModelConfig
from promptkit.evals import Case, EvalItem, Suite
from promptkit.evals.assertions import Equals
from promptkit.templates import parse_prompt
from promptkit.testing.fake_server import FakeOpenAIServer
from promptkit.testing.replies import Reply

ANSWER = {"label": "ok"}
PROMPT = """\
---
name: bench
version: {version}
model: bench
inputs: {{text: string}}
output:
  mode: json_object
  schema: {{type: object, required: [label], properties: {{label: {{type: string}}}}}}
---
system:
Label the text. Version {version}.
user:
{{{{ text }}}}
"""


def config(base_url: str) -> ModelConfig:
    return ModelConfig(name="bench", model="bench-model", base_url=base_url, api_key_env="",
                       capability="json_object", price_in=0.0, price_out=0.0)


def reply(latency_s: float) -> Reply:
    return Reply(content=ANSWER, latency=latency_s)


def items(cases: int, versions: tuple[str, ...] = ("1.0.0", "2.0.0")) -> list[EvalItem]:
    """`cases` × `versions` eval items of a tiny json_object prompt, asserting the label."""
    suite_cases = tuple(
        Case(id=f"case-{i}", variables={"text": f"text number {i}"},
             assertions=(Equals("ok", path="label"),))
        for i in range(cases)
    )
    suite = Suite(name="bench", path=Path("bench.yaml"), prompt="bench", cases=suite_cases)
    prompts = [parse_prompt(PROMPT.format(version=v)) for v in versions]
    return [EvalItem(suite, case, prompt) for prompt in prompts for case in suite_cases]


SUITE = "prompt: bench\ndataset: cases.jsonl\nassert:\n  - schema\n"


def eval_project(root: Path, cases: int, base_url: str,
                 versions: tuple[str, ...] = ("1.0.0",)) -> None:
    """A promptkit project in `root`: the bench prompt at `versions`, a suite of `cases`
    read from JSONL, and the bench model config pointing at `base_url`."""
    prompts = root / "prompts" / "bench"
    prompts.mkdir(parents=True)
    for version in versions:
        (prompts / f"{version}.prompt").write_text(PROMPT.format(version=version))
    (root / "evals").mkdir()
    (root / "evals" / "bench.yaml").write_text(SUITE)
    rows = (json.dumps({"id": f"c{i}", "vars": {"text": f"text {i}"},
                        "expect": {"label": "ok"}}) for i in range(cases))
    (root / "evals" / "cases.jsonl").write_text("\n".join(rows) + "\n")
    model = config(base_url)
    (root / "pyproject.toml").write_text(
        "[tool.promptkit.models.bench]\n"
        f'model = "{model.model}"\nbase_url = "{base_url}"\napi_key_env = ""\n'
        'capability = "json_object"\nprice_in = 0\nprice_out = 0\n'
        '[tool.pytest.ini_options]\nasyncio_default_fixture_loop_scope = "function"\n')


def run_pytest(root: Path, *args: str) -> tuple[float, str]:
    """`pytest -q ARGS` in `root` in a fresh interpreter: its wall seconds and stdout."""
    wall, out, _ = run_pytest_rss(root, *args)
    return wall, out


def run_pytest_rss(root: Path, *args: str) -> tuple[float, str, float]:
    """`run_pytest`, plus the child's peak RSS in MB, measured from outside the process (the
    parent's `os.wait4` rusage of that child: a child's own RUSAGE_SELF can report the
    parent's peak on Linux)."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out:
        child = subprocess.Popen([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                  *args], cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT,
                                 text=True)  # fmt: skip
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - started
        out.seek(0)
        stdout = out.read()
    if child.returncode != 0:
        raise RuntimeError(f"pytest {' '.join(args)} failed:\n{stdout[-3000:]}")
    return wall, stdout, round(usage.ru_maxrss / 1024, 1)


def median_us(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1e6, 1)


def row(name: str, value: Any, target: str, ok: bool | None) -> dict[str, Any]:
    return {"figure": name, "value": value, "target": target,
            "verdict": "-" if ok is None else ("ok" if ok else "MISSED")}


@contextmanager
def server_process(default: Reply, **options: Any) -> Iterator[str]:
    """A fake server in its own process (so it does not share the client's GIL); its URL.
    `options` go to `FakeOpenAIServer` (e.g. `fault_rate`, `seed`)."""
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(target=_serve, args=(default, options, theirs), daemon=True)
    process.start()
    try:
        yield ours.recv()
    finally:
        ours.send("stop")
        process.join(timeout=10)


def _serve(default: Reply, options: dict[str, Any], conn: Any) -> None:
    with FakeOpenAIServer(default=default, **options) as server:
        conn.send(server.base_url)
        conn.recv()
