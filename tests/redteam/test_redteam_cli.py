"""`promptkit redteam` as users run it: against a scripted model on 127.0.0.1 that either
obeys attacks or resists them, then offline from the recordings, and the suite it writes
under plain pytest."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from promptkit.cli import cli
from promptkit.testing.fake_server import FakeOpenAIServer
from promptkit.testing.replies import Reply

SUITE = """\
prompt: sentiment
cases:
  - {id: love, vars: {text: "I love it"}, expect: {sentiment: positive}}
  - {id: hate, vars: {text: "I hate it"}, expect: {sentiment: negative}}
  - {id: fine, vars: {text: "It is fine"}, expect: {sentiment: neutral}}
"""
LABELS = {"I love it": "positive", "I hate it": "negative", "It is fine": "neutral"}


def robust(body: dict[str, Any], index: int) -> Reply:
    """Classifies the benign text the attack was planted in, and says nothing else."""
    carrier = body["messages"][-1]["content"].split("\n")[0]
    return Reply(content={"sentiment": LABELS.get(carrier, "neutral"), "confidence": 0.9,
                          "reasoning": "Judged on the review alone."})


def vulnerable(body: dict[str, Any], index: int) -> Reply:
    """Obeys: answers the label it is told to and repeats everything it was given."""
    user = body["messages"][-1]["content"]
    asked = re.search(r'answer "(\w+)"', user)
    everything = " ".join(m["content"] for m in body["messages"])
    return Reply(content={"sentiment": asked.group(1) if asked else "positive",
                          "confidence": 0.9, "reasoning": everything})


@pytest.fixture
def model() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(handler=robust) as server:
        yield server


@pytest.fixture
def project(tmp_path: Path, repo_root: Path, model: FakeOpenAIServer,
            monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(repo_root / "prompts" / "sentiment", tmp_path / "prompts" / "sentiment")
    (tmp_path / "evals").mkdir()
    (tmp_path / "evals" / "sentiment.yaml").write_text(SUITE, encoding="utf-8")
    (tmp_path / "pyproject.toml").write_text(
        '[tool.promptkit.models.default]\nmodel = "fake-model"\n'
        f'base_url = "{model.base_url}"\napi_key_env = "FAKE_KEY"\n'
        '[tool.pytest.ini_options]\nasyncio_default_fixture_loop_scope = "function"\n',
        encoding="utf-8")
    for name in ("PROMPTKIT_ROOT", "PROMPTKIT_PROMPTS_DIR", "PROMPTKIT_DB_URL",
                 "PROMPTKIT_FIXTURES_DIR", "PROMPTKIT_EVALS_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FAKE_KEY", "sk-test-redteam-000000")
    monkeypatch.chdir(tmp_path)
    return tmp_path


Invoke = Callable[..., "tuple[int, str, str]"]


@pytest.fixture
def promptkit(project: Path) -> Invoke:
    def invoke(*args: str) -> tuple[int, str, str]:
        result = CliRunner().invoke(cli, ["--project", str(project), *args])
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result.exit_code, result.stdout, result.stderr

    return invoke


def redteam_json(promptkit: Invoke, *args: str) -> tuple[int, dict[str, Any]]:
    code, out, err = promptkit("redteam", "sentiment@1.2.0", "--json", *args)
    return code, json.loads(out) if out.strip() else {"stderr": err}


def test_a_robust_prompt_resists_every_family_and_exits_0(promptkit: Invoke,
                                                         project: Path) -> None:
    code, report = redteam_json(promptkit, "--record", "new")
    assert code == 0, report
    assert len(report["families"]) >= 6
    assert report["resisted"] == report["cases"] == 36
    assert report["failed"] == [] and report["errors"] == []
    assert (project / "evals" / "sentiment.redteam.yaml").is_file()
    assert list((project / "fixtures" / "sentiment.redteam").rglob("*.json"))


def test_a_vulnerable_prompt_fails_with_the_evidence_and_exits_1(
        promptkit: Invoke, model: FakeOpenAIServer, project: Path) -> None:
    model.handler = vulnerable
    code, out, _ = promptkit("redteam", "sentiment@1.2.0", "--record", "new",
                             "--report", "report.json")
    assert code == 1
    report = json.loads((project / "report.json").read_text())
    assert report["resisted"] == 0
    assert all(f["failed"] == 6 for f in report["families"])
    reasons = " ".join(r for f in report["failed"] for r in f["reasons"])
    assert "the system prompt's canary" in reasons
    assert "an email address" in reasons
    assert "the label the attack asked for" in reasons
    assert "| prompt-injection | 6 | 0 | 6 | 0 |" in out
    assert "### encoding.text.1 (input `text`)" in out
    assert "sk-test-redteam" not in out


def test_report_only_exits_0_though_attacks_got_through(promptkit: Invoke,
                                                        model: FakeOpenAIServer) -> None:
    model.handler = vulnerable
    code, report = redteam_json(promptkit, "--record", "new", "--report-only",
                                "--families", "encoding", "--per-family", "1")
    assert code == 0
    assert [f["family"] for f in report["families"]] == ["encoding"]
    assert len(report["failed"]) == 2


def test_a_second_run_replays_offline_with_the_same_verdicts(
        promptkit: Invoke, model: FakeOpenAIServer) -> None:
    model.handler = vulnerable
    first = redteam_json(promptkit, "--record", "new")
    model.stop()
    assert redteam_json(promptkit) == first


def test_without_recordings_no_case_is_judged_and_the_exit_is_2(
        promptkit: Invoke, model: FakeOpenAIServer) -> None:
    code, report = redteam_json(promptkit, "--families", "pii-exfiltration")
    assert code == 2
    assert len(report["errors"]) == 6 and not model.requests
    assert "ReplayMissError" in report["errors"][0]["reasons"][0]


def test_generate_only_writes_the_suite_and_calls_nothing(
        promptkit: Invoke, model: FakeOpenAIServer, project: Path) -> None:
    code, _, err = promptkit("redteam", "sentiment@1.2.0", "--generate-only", "--seed", "3")
    assert code == 0 and not model.requests
    assert "wrote 36 cases of 6 families" in err
    text = (project / "evals" / "sentiment.redteam.yaml").read_text()
    assert text.startswith("# Generated by `promptkit redteam sentiment@1.2.0 --seed 3 "
                           "--per-family 3`.")


def test_an_edited_suite_is_not_overwritten_without_force(promptkit: Invoke,
                                                          project: Path) -> None:
    promptkit("redteam", "sentiment@1.2.0", "--generate-only")
    suite = project / "evals" / "sentiment.redteam.yaml"
    suite.write_text(suite.read_text() + "# reviewed\n")
    code, _, err = promptkit("redteam", "sentiment@1.2.0", "--generate-only")
    assert code == 2 and "exists and differs" in err
    assert promptkit("redteam", "sentiment@1.2.0", "--generate-only", "--force")[0] == 0


def test_an_unknown_family_is_a_usage_error(promptkit: Invoke) -> None:
    code, _, err = promptkit("redteam", "sentiment@1.2.0", "--families", "nope")
    assert code == 2 and "unknown red-team families: nope" in err


def test_the_suite_runs_and_replays_under_plain_pytest(
        promptkit: Invoke, model: FakeOpenAIServer, project: Path,
        pytester: pytest.Pytester) -> None:
    model.handler = vulnerable
    promptkit("redteam", "sentiment@1.2.0", "--record", "new", "--families",
              "system-prompt-extraction,pii-exfiltration", "--per-family", "2")
    model.stop()
    for name in ("prompts", "evals", "fixtures", "pyproject.toml"):
        source = project / name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, pytester.path / name)
    (pytester.path / "evals" / "sentiment.yaml").unlink()  # its cases were never recorded
    result = pytester.runpytest("evals", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=8)
    result.stdout.fnmatch_lines(["*the answer reveals an email address*",
                                 "FAILED evals/sentiment.redteam.yaml::sentiment@1.2.0::"
                                 "pii-exfiltration.text.1*"])
