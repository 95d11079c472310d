"""A live `pytest evals` run at full concurrency leaves exactly one call-log row per call,
with no warning. (Rows used to go missing when the writer thread read `os.environ` while
pytest set and deleted PYTEST_CURRENT_TEST; `benchmarks/calllog_rows.py` runs 20 of these.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from promptkit.testing import FakeOpenAIServer, Reply

CASES = 1000
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
user:
Label this ({version}): {{{{ text }}}}
"""


def project(root: Path, base_url: str) -> None:
    for version in ("1.0.0", "2.0.0"):
        path = root / "prompts" / "bench" / f"{version}.prompt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(PROMPT.format(version=version))
    (root / "evals").mkdir()
    (root / "evals" / "bench.yaml").write_text(
        "prompt: bench\ndataset: cases.jsonl\nassert:\n  - schema\n")
    rows = (json.dumps({"id": f"c{i}", "vars": {"text": f"text {i}"}}) for i in range(CASES))
    (root / "evals" / "cases.jsonl").write_text("\n".join(rows) + "\n")
    (root / "pyproject.toml").write_text(
        f'[tool.promptkit.models.bench]\nmodel = "bench-model"\nbase_url = "{base_url}"\n'
        'api_key_env = ""\ncapability = "json_object"\nprice_in = 0\nprice_out = 0\n')


def test_a_live_run_of_2000_calls_at_concurrency_16_logs_every_call_once(tmp_path: Path) -> None:
    with FakeOpenAIServer(default=Reply(content={"label": "ok"}, latency=0.005)) as server:
        project(tmp_path, server.base_url)
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "default",
             "evals", "--prompt-version=all", "--prompt-record=all", "--prompt-concurrency=16"],
            cwd=tmp_path, capture_output=True, text=True, timeout=600,
            env={**os.environ, "PYTHONWARNINGS": "default"})  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "2000 passed" in done.stdout
    assert "call log" not in done.stdout + done.stderr  # no row lost, nothing to warn about
    engine = sa.create_engine(f"sqlite:///{tmp_path / '.promptkit' / 'promptkit.db'}")
    with engine.connect() as conn:
        ids = list(conn.scalars(sa.text("SELECT id FROM promptkit_call_log")))
    engine.dispose()
    assert len(ids) == 2 * CASES
    assert len(set(ids)) == len(ids)
