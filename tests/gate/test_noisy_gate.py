"""The gate against a model whose answers vary, over real HTTP on 127.0.0.1: noise flips
reverse when sampled again, real regressions hold, re-samples are recorded and replay,
`--record all` always calls, budgets end in `inconclusive`, and the pytest route agrees.

The server's noise is deterministic per (version, case, n-th request of that case), so the
same gate gives the same answers however its concurrent calls interleave."""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from gate_helpers import ENV_NAMES

from promptkit.cli import cli
from promptkit.testing.fake_server import FakeOpenAIServer
from promptkit.testing.replies import Reply

CASES = 60
NOISE = 0.1
BROKEN = {"2.0.0": set(range(1, 7))}  # version -> cases it always gets wrong
CRITICAL = 3

PROMPT = """\
---
name: label
version: {version}
model: default
max_tokens: 20
inputs:
  n: string
output:
  mode: json_schema
  schema:
    type: object
    required: [label]
    properties:
      label: {{type: string}}
---
system:
[v{version}] Label the item.
user:
Item {{{{ n }}}}
"""


class NoisyModel:
    """Right, except where the version is broken, or where the noise hash strikes."""

    def __init__(self) -> None:
        self.seen: Counter[tuple[str, int]] = Counter()

    def __call__(self, body: dict[str, Any], index: int) -> Reply:
        version = re.search(r"\[v([\d.]+)\]", body["messages"][0]["content"]).group(1)  # type: ignore[union-attr]
        case = int(re.search(r"Item (\d+)", body["messages"][-1]["content"]).group(1))  # type: ignore[union-attr]
        nth = self.seen[(version, case)]
        self.seen[(version, case)] += 1
        digest = hashlib.sha256(f"{version}/{case}/{nth}".encode()).digest()
        noisy = int.from_bytes(digest[:4], "big") / 2**32 < NOISE
        wrong = case in BROKEN.get(version, set()) or noisy
        return Reply(content={"label": "wrong" if wrong else "ok"})


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(handler=NoisyModel()) as fake:
        yield fake


@pytest.fixture
def project(tmp_path: Path, server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "noisy"
    for version in ("1.0.0", "1.1.0", "2.0.0"):
        path = root / "prompts" / "label" / f"{version}.prompt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(PROMPT.format(version=version), encoding="utf-8")
    cases = [f'  - id: case-{n:02d}\n    vars: {{n: "{n}"}}\n    expect: {{label: ok}}'
             + ("\n    critical: true" if n == CRITICAL else "") for n in range(1, CASES + 1)]
    (root / "evals").mkdir()
    (root / "evals" / "label.yaml").write_text(
        "prompt: label\nassert:\n  - schema\ncases:\n" + "\n".join(cases) + "\n")
    (root / "pyproject.toml").write_text(
        '[project]\nname = "noisy"\n\n[tool.promptkit.models.default]\nmodel = "fake-model"\n'
        f'base_url = "{server.base_url}"\napi_key_env = "FAKE_KEY"\n'
        'capability = "json_schema"\n\n[tool.pytest.ini_options]\n'
        'asyncio_default_fixture_loop_scope = "function"\n')
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FAKE_KEY", "sk-test-noisy-000")
    monkeypatch.setenv("PROMPTKIT_ACTOR", "ci@example")
    monkeypatch.chdir(root)
    return root


def gate(project: Path, *args: str) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(cli, ["--project", str(project), "gate", "label", "--json",
                                      "--baseline", "1.0.0", *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, json.loads(result.stdout) if result.stdout.strip() else {}


def chat_requests(server: FakeOpenAIServer) -> int:
    return sum(r.path.endswith("/chat/completions") for r in server.requests)


def test_noise_flips_reverse_when_sampled_again_and_an_unchanged_candidate_passes(
    project: Path, server: FakeOpenAIServer,
) -> None:
    code, report = gate(project, "--candidate", "1.1.0", "--record", "new")
    assert code == 0, report["checks"]
    assert report["verdict"] == "pass"
    first_flips = [f for f in report["flips"]]
    assert first_flips and not any(f["held"] for f in first_flips)  # every one was noise
    stats = report["stats"]
    assert stats["resampled"] == len(first_flips) and stats["audited"] >= 1
    assert 2 * CASES < stats["calls"] <= stats["budget"] == 3 * 2 * CASES
    assert stats["calls"] == chat_requests(server)  # the budget counts what was really called
    assert report["power"]["noise_baseline"] > 0 and report["power"]["detectable"] > 0


def test_a_real_regression_under_noise_holds_up_and_is_caught(project: Path) -> None:
    code, report = gate(project, "--candidate", "2.0.0", "--record", "new")
    assert code == 1 and report["verdict"] == "regression"
    held = {f["case_id"] for f in report["flips"] if f["held"]}
    resampled = {c["case_id"] for c in report["case_results"] if c["resampled"] == "flip"}
    broken = {f"case-{n:02d}" for n in BROKEN["2.0.0"]}
    assert len(broken & resampled) >= 4  # a noisy baseline answer can hide one on the first pass
    assert broken & resampled <= held  # every broken case that was sampled again held up
    assert report["stats"]["ci_high"] < 0


def test_recorded_re_samples_replay_offline_to_the_same_verdict(
    project: Path, server: FakeOpenAIServer,
) -> None:
    code, live = gate(project, "--candidate", "2.0.0", "--record", "new")
    calls = chat_requests(server)
    code_again, replayed = gate(project, "--candidate", "2.0.0")  # --record none
    assert chat_requests(server) == calls  # nothing called: every re-sample was recorded
    assert (code_again, replayed["stats"]["diff"]) == (code, live["stats"]["diff"])
    assert replayed["stats"]["exact"] == 0  # the re-samples were real answers


def test_record_all_calls_the_model_for_both_sides_every_time(
    project: Path, server: FakeOpenAIServer,
) -> None:
    gate(project, "--candidate", "1.1.0", "--record", "all")
    first = chat_requests(server)
    _, report = gate(project, "--candidate", "1.1.0", "--record", "all", "--reuse")
    assert chat_requests(server) - first >= 2 * CASES  # stored results not reused under all
    assert report["baseline"]["source"] == report["candidate"]["source"] == "ran (all)"


def test_a_budget_that_runs_out_is_inconclusive_and_the_policy_decides_the_exit(
    project: Path,
) -> None:
    tight = ("--candidate", "1.1.0", "--record", "new", "--max-calls", str(2 * CASES + 2))
    code, report = gate(project, *tight)
    assert code == 3 and report["verdict"] == "inconclusive"
    assert report["stats"]["stopped"] == "budget"
    check = next(c for c in report["checks"] if c["name"] == "non-inferiority")
    assert check["status"] == "inconclusive" and "the call budget ran out" in check["detail"]
    assert gate(project, *tight, "--on-inconclusive", "pass")[0] == 0
    assert gate(project, *tight, "--on-inconclusive", "fail")[0] == 1
    markdown = CliRunner().invoke(cli, ["--project", str(project), "gate", "label",
                                        "--baseline", "1.0.0", *tight]).stdout
    assert "is inconclusive against" in markdown and "This is not a regression." in markdown


def test_the_pytest_route_exits_with_the_gate_verdict(project: Path,
                                                      pytester: pytest.Pytester) -> None:
    for part in ("prompts", "evals"):
        (pytester.path / part).symlink_to(project / part)
    (pytester.path / "pyproject.toml").write_text((project / "pyproject.toml").read_text())
    result = pytester.runpytest("evals", "--prompt-version=1.1.0", "--prompt-baseline=1.0.0",
                                "--prompt-record=new", "-p", "no:cacheprovider")
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) >= 1  # noise failed some of the candidate's answers
    assert result.ret == 0  # ...and the gate, which weighed them, passed the candidate
    assert any(line.startswith("PASS: label@1.1.0") for line in result.outlines)
    tight = pytester.runpytest("evals", "--prompt-version=2.0.0", "--prompt-baseline=1.0.0",
                               "--prompt-record=new", "--prompt-max-calls=121",
                               "-p", "no:cacheprovider")
    assert tight.ret == 3
    assert any(line.startswith("INCONCLUSIVE: label@2.0.0") for line in tight.outlines)


def cli_run(project: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["--project", str(project), *args])
    return result.exit_code, result.stdout, result.stderr


def test_promote_needs_a_shown_pass_not_an_inconclusive_one_let_through(project: Path) -> None:
    assert cli_run(project, "publish", "label")[0] == 0
    assert cli_run(project, "pin", "label", "1.0.0", "--env", "production", "--reason",
                   "first")[0] == 0
    code, report = gate(project, "--candidate", "1.1.0", "--record", "new", "--baseline",
                        "production", "--max-calls", str(2 * CASES + 2),
                        "--on-inconclusive", "pass")
    assert (code, report["verdict"]) == (0, "inconclusive")  # CI let it through...
    code, _, err = cli_run(project, "promote", "label", "1.1.0", "--env", "production")
    assert code == 1 and "no passing gate" in err  # ...but production needs it shown
    assert "was inconclusive" in err
    assert gate(project, "--candidate", "1.1.0", "--record", "new", "--baseline",
                "production")[0] == 0
    assert cli_run(project, "promote", "label", "1.1.0", "--env", "production")[0] == 0


def test_plan_estimates_from_stored_answers_before_anything_is_spent(
    project: Path, server: FakeOpenAIServer,
) -> None:
    code, _, err = cli_run(project, "gate", "label", "--baseline", "1.0.0", "--plan")
    assert code != 0 and "no stored results of label@1.0.0" in err
    for _ in range(3):  # three stored answers per case: what the plan estimates noise from
        gate(project, "--candidate", "1.0.0", "--record", "all")
    calls = chat_requests(server)
    code, out, err = cli_run(project, "gate", "label", "--baseline", "1.0.0", "--plan",
                             "--effect", "0.1")
    assert code == 0, err
    assert chat_requests(server) == calls  # the plan spent nothing
    lines = out.splitlines()
    assert lines[0].startswith("plan for label@1.0.0 (margin 2 pts, budget 3 passes)")
    assert f"{CASES} cases, {3 * CASES} stored answers" in lines[1] and "disagree" in lines[1]
    assert [line.split()[0] for line in lines[2:]] == ["unchanged", "breaks", "fails"]
    assert "breaks 6 case(s) (10%)" in lines[3]
