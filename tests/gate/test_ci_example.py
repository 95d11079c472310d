"""The CI example: the workflow parses and uses only options that exist, and its gate script,
run for real in a git repository of the recorded project, gates each added version against
the newest one at the base revision."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
import yaml
from gate_helpers import REGRESSED

from promptkit.cli import cli

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "ci"
WORKFLOW, SCRIPT = EXAMPLE / "prompts.yml", EXAMPLE / "gate_changed.sh"
BIN = str(Path(sys.executable).parent)


def command_options(name: str) -> set[str]:
    command = cli.get_command(click.Context(cli), name)
    assert command is not None
    assert isinstance(command, click.Command)
    return {opt for p in command.params for opt in getattr(p, "opts", [])}


def test_the_workflow_lints_evals_gates_and_posts_the_summary() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    steps = workflow["jobs"]["prompts"]["steps"]
    runs = "\n".join(s.get("run", "") for s in steps)
    assert "ruff check ." in runs and "promptkit lint" in runs
    assert "pytest evals --prompt-version=changed" in runs and "--prompt-record=none" in runs
    assert "bash ci/gate_changed.sh" in runs
    assert "gh pr comment" in runs and "gate-reports/summary.md" in runs
    assert workflow["permissions"]["pull-requests"] == "write"
    gate_step = next(s for s in steps if s.get("id") == "gate")
    assert gate_step["continue-on-error"] is True
    assert steps[-1]["if"] == "steps.gate.outcome == 'failure'"
    for step in steps:
        if "run" in step:
            subprocess.run(["bash", "-n"], input=step["run"], text=True, check=True)


def test_every_option_the_example_uses_exists(pytestconfig: pytest.Config) -> None:
    script = SCRIPT.read_text()
    gate_call = script[script.index("promptkit gate"):script.index(">> \"$summary\"\n    code")]
    assert set(re.findall(r"--[a-z-]+", gate_call)) <= command_options("gate")
    lint_used = set(re.findall(r"promptkit lint (--[a-z-]+)", WORKFLOW.read_text()))
    assert lint_used <= command_options("lint")
    used = set(re.findall(r"--(prompt-[a-z-]+)=", WORKFLOW.read_text()))
    assert len(used) == 4
    for option in used:  # the plugin is loaded here too: an unknown name raises ValueError
        pytestconfig.getoption(option.replace("-", "_"))
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)


def git(root: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"}
    return subprocess.run(["git", *args], cwd=root, env=env, check=True, capture_output=True,
                          text=True).stdout


def gate_script(root: Path, base: str) -> tuple[int, str]:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
           "PYTHONWARNINGS": "ignore"}
    env.pop("GATE_BASELINE", None)
    done = subprocess.run(["bash", str(SCRIPT), base], cwd=root, env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    return done.returncode, (root / "gate-reports" / "summary.md").read_text()


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_the_script_gates_each_added_version_against_the_newest_at_base(
    gate_project: Path,
) -> None:
    root = gate_project
    held = {v: (root / f"prompts/parity/{v}.prompt").read_text() for v in ("1.1.0", "1.2.0")}
    for version in held:
        (root / f"prompts/parity/{version}.prompt").unlink()
    git(root, "init", "-q", "-b", "main")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "parity 0.9.0, 1.0.0 and 1.3.0 with recordings")

    code, summary = gate_script(root, "HEAD")
    assert code == 0 and summary.startswith("No prompt version was added since HEAD")

    (root / "prompts/parity/1.2.0.prompt").write_text(held["1.2.0"])
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "reword parity")
    code, summary = gate_script(root, "HEAD~1")
    assert code == 0, summary
    assert "### ✅ promptkit gate: `parity@1.2.0` passes against `parity@1.3.0`" in summary

    (root / "prompts/parity/1.1.0.prompt").write_text(held["1.1.0"])
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "parity 1.1.0")
    code, summary = gate_script(root, "HEAD~1")  # newest at base: 1.3.0 (wrong on case-05)
    assert code == 1, summary
    assert "`parity@1.1.0` regresses against `parity@1.3.0`" in summary
    flipped = re.findall(r"\| `parity::(case-\d+)`[^|]* \| (pass → fail|fail → pass)", summary)
    assert flipped == [("case-05", "fail → pass"), *((c, "pass → fail") for c in REGRESSED)]
    assert (root / "gate-reports" / "parity-1.1.0.html").is_file()
