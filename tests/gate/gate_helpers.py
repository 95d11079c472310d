"""Helpers of the gate tests: a project whose prompt has versions that answer 40 cases
differently, recorded once from the fake server on 127.0.0.1, then gated offline.

    0.9.0  wrong on every case          1.1.0  wrong on case-07, case-19, case-33
    1.0.0  right on every case          1.2.0  right everywhere, other wording
                                        1.3.0  wrong on case-05 only (a critical case)
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from promptkit.config import load_settings
from promptkit.evals import EvalOptions, EvalSession, load_suite
from promptkit.replay import RecordMode
from promptkit.testing.replies import Reply

ENV_NAMES = ("PROMPTKIT_ROOT", "PROMPTKIT_PROMPTS_DIR", "PROMPTKIT_DB_URL",
             "PROMPTKIT_FIXTURES_DIR", "PROMPTKIT_EVALS_DIR")
"""Settings a developer's shell may hold that would point the project elsewhere."""

CASES = 40
REGRESSED = ("case-07", "case-19", "case-33")
CRITICAL = "case-05"
WRONG: dict[str, set[int] | None] = {  # version -> numbers answered wrongly (None: all)
    "0.9.0": None, "1.0.0": set(), "1.1.0": {7, 19, 33}, "1.2.0": set(), "1.3.0": {5},
}
WORDING = {"1.2.0": "Reply with the parity of the number, nothing else."}

PROMPT = """\
---
name: parity
version: {version}
description: Say whether a number is even or odd.
model: default
max_tokens: 20
inputs:
  number: string
output:
  mode: json_schema
  schema:
    type: object
    additionalProperties: false
    required: [parity]
    properties:
      parity: {{type: string, enum: [even, odd]}}
---
system:
[v{version}] {wording}

user:
Is {{{{ number }}}} even or odd?
"""


def case_id(number: int) -> str:
    return f"case-{number:02d}"


def suite_text() -> str:
    lines = ["prompt: parity", "assert:", "  - schema", "cases:"]
    for n in range(1, CASES + 1):
        lines += [f"  - id: {case_id(n)}", f'    vars: {{number: "{n}"}}',
                  f"    expect: {{parity: {'even' if n % 2 == 0 else 'odd'}}}"]
        if case_id(n) == CRITICAL:
            lines.append("    critical: true")
    return "\n".join(lines) + "\n"


def answer(body: dict[str, Any], index: int) -> Reply:
    """The scripted model: right or wrong by the version named in the system message."""
    version = re.search(r"\[v([\d.]+)\]", body["messages"][0]["content"]).group(1)
    number = int(re.search(r"Is (\d+)", body["messages"][-1]["content"]).group(1))
    wrong = WRONG[version]
    right = "even" if number % 2 == 0 else "odd"
    flipped = {"even": "odd", "odd": "even"}[right]
    return Reply(content={"parity": flipped if wrong is None or number in wrong else right})


def write_project(root: Path, base_url: str) -> None:
    for version in WRONG:
        path = root / "prompts" / "parity" / f"{version}.prompt"
        path.parent.mkdir(parents=True, exist_ok=True)
        wording = WORDING.get(version, "Say whether the number is even or odd, in JSON.")
        path.write_text(PROMPT.format(version=version, wording=wording), encoding="utf-8")
    (root / "evals").mkdir()
    (root / "evals" / "parity.yaml").write_text(suite_text(), encoding="utf-8")
    (root / "pyproject.toml").write_text(
        '[project]\nname = "demo"\n\n[tool.promptkit.models.default]\nmodel = "fake-model"\n'
        f'base_url = "{base_url}"\napi_key_env = "FAKE_KEY"\ncapability = "json_schema"\n'
        '\n[tool.pytest.ini_options]\nasyncio_default_fixture_loop_scope = "function"\n',
        encoding="utf-8")


def record(root: Path) -> None:
    session = EvalSession(load_settings(root), EvalOptions(version="all", record=RecordMode.ONCE))
    items = session.items(load_suite(root / "evals" / "parity.yaml"))
    session.start(items)
    results = [session.result(item) for item in items]
    session.finish()
    assert len(results) == CASES * len(WRONG)
    assert not [r.item_id for r in results if r.runs[0].error], "recording failed"


Invoke = Callable[..., "tuple[int, str, str]"]


def gate_json(invoke: Invoke, *args: str) -> tuple[int, dict[str, Any], str]:
    code, out, err = invoke("gate", "parity", *args, "--json")
    return code, json.loads(out) if out.strip() else {}, err
