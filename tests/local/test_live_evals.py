"""The example eval suites live against the real local model, then offline from what they
recorded: a real pytest session over a copy of the repo's prompts/ and evals/.

Needs the `[local]` extra (skipped with the pip command as reason when absent, failed when
CI=true). Figures are printed (`-s`) for docs/local-model.md.
"""

from __future__ import annotations

import json
import shutil
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from promptkit.core import ModelConfig
from promptkit.evals import load_suites

pytestmark = [pytest.mark.local_model, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
LATEST = {"extract_contact": "1.0.0", "sentiment": "1.2.0"}
SUITES = [f"evals/{name}.yaml" for name in LATEST]
"""The suites whose prompts run at temperature 0 (their tasks' preset), so that a live run
asks exactly what was recorded. support_assistant is a chat prompt sampled at 0.7: every live
run is another sample (48 of them all passed its assertions, at most 41 words), and CI
should not hang on a sample; its recordings replay in the main job."""


def _toml_value(value: Any) -> str:
    return json.dumps(value)  # strings, numbers and booleans are written alike in TOML


def write_project(root: Path, config: ModelConfig) -> None:
    """prompts/ and evals/ copied from the repo, no recordings, and a pyproject.toml that
    defines the model config `local` (which the suites name) with the fields of `config`."""
    for part in ("prompts", "evals"):
        shutil.copytree(REPO / part, root / part)
    fields = {k: v for k, v in config.model_dump(mode="json").items()
              if k != "name" and v is not None and v != []}
    lines = ["[tool.promptkit.models.local]",
             *(f"{key} = {_toml_value(value)}" for key, value in fields.items())]
    (root / "pyproject.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")


def point_local_at(root: Path, base_url: str) -> None:
    path = root / "pyproject.toml"
    text = path.read_text(encoding="utf-8")
    old = next(line for line in text.splitlines() if line.startswith("base_url = "))
    path.write_text(text.replace(old, f"base_url = {_toml_value(base_url)}"), encoding="utf-8")


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # nothing listens once the probe is closed


def answers(blob: bytes) -> list[Any]:
    entries = json.loads(blob)["entries"].values()
    return sorted(json.dumps(e["response"]["body"]["choices"][0]["message"]) for e in entries)


def same_as_committed(recorded: dict[str, bytes]) -> int:
    """How many cassettes hold the answers of the committed ones (information only: another
    CPU may compute slightly different logits, so this is printed, not asserted)."""
    committed = REPO / "fixtures"
    return sum(1 for name, blob in recorded.items()
               if (committed / name).is_file() and answers((committed / name).read_bytes())
               == answers(blob))


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.json"))}


@pytest.fixture
def eval_project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch,
            local_model: ModelConfig) -> Path:
    for name in ("PROMPTKIT_ROOT", "PROMPTKIT_DEFAULT_MODEL", "PROMPTKIT_DB_URL",
                 "PROMPTKIT_PROMPTS_DIR", "PROMPTKIT_EVALS_DIR", "PROMPTKIT_FIXTURES_DIR"):
        monkeypatch.delenv(name, raising=False)
    write_project(pytester.path, local_model)
    return pytester.path


def test_the_example_suites_pass_live_and_their_recordings_replay_offline(
    pytester: pytest.Pytester, eval_project: Path
) -> None:
    suites = [s for s in load_suites(eval_project / "evals") if s.name in LATEST]
    cases = {s.name: len(s.cases) for s in suites}
    assert set(cases) == set(LATEST) and cases["sentiment"] >= 10
    items = sum(cases.values())

    began = time.monotonic()
    live = pytester.runpytest_subprocess(*SUITES, "--prompt-model=local", "--prompt-record=all",
                                         "-p", "no:cacheprovider", timeout=240)
    live_s = time.monotonic() - began
    assert live.ret == 0, live.stdout.str()
    live.assert_outcomes(passed=items)
    recorded = snapshot(eval_project / "fixtures")
    expected = {f"{s.name}/{s.prompt}@{LATEST[s.prompt]}/{c.id}.json"
                for s in suites for c in s.cases}
    assert set(recorded) == expected
    models = {entry["request"]["body"]["model"] for blob in recorded.values()
              for entry in json.loads(blob)["entries"].values()}
    assert models == {"SmolLM2-135M-Instruct"}

    point_local_at(eval_project, f"http://127.0.0.1:{closed_port()}/v1")
    began = time.monotonic()
    offline = pytester.runpytest_subprocess(*SUITES, "-p", "no:cacheprovider", timeout=120)
    offline_s = time.monotonic() - began
    assert offline.ret == 0, offline.stdout.str()
    offline.assert_outcomes(passed=items)
    assert snapshot(eval_project / "fixtures") == recorded, "replay leaves the recordings as they are"
    print(f"\nlive: {items} items ({cases}) recorded in {live_s:.1f} s; replayed offline in "
          f"{offline_s:.1f} s; {same_as_committed(recorded)}/{items} answers as in fixtures/")
