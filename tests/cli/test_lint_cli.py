"""`promptkit lint` as a user runs it: exit codes and `file:line: CODE message` findings."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import git
import pytest
from click.testing import CliRunner

from promptkit.cli import cli

WritePrompt = Callable[[Path, str, str, str], Path]

OK_PROMPT = """\
---
name: probe
version: 1.0.0
inputs:
  text: string
---
user:
{{ text }}
"""


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_the_repository_lints_clean(repo_root: Path) -> None:
    code, out = run("--project", str(repo_root), "lint")
    assert code == 0, out
    assert "7 prompt file(s), 0 error(s)" in out


@pytest.mark.parametrize(
    ("old", "new", "line", "code", "text"),
    [
        ("inputs:", "colour: blue\ninputs:", 4, "PK001", "unknown key 'colour'"),
        ("{{ text }}", "{{ text }", 8, "PK002", "template syntax error"),
        ("{{ text }}", "{{ text }} {{ name }}", 8, "PK004", "'name' is used but not declared"),
        ("{{ text }}", "{{ ''.__class__ }}", 8, "PK003", "security"),
    ],
)
def test_findings_name_file_line_and_code(
    project: Path, write_prompt: WritePrompt, old: str, new: str, line: int, code: str, text: str
) -> None:
    path = write_prompt(project, "probe", "1.0.0", OK_PROMPT.replace(old, new, 1))
    exit_code, out = run("lint")
    assert exit_code == 1, out
    finding = next(row for row in out.splitlines() if row.startswith(str(path)))
    assert finding.startswith(f"{path}:{line}: {code} ")
    assert text in finding


def test_unused_input_and_hot_structured_output_are_warnings(project: Path, write_prompt: WritePrompt) -> None:
    text = OK_PROMPT.replace("  text: string", "  text: string\n  spare: string").replace(
        "inputs:", "temperature: 0.9\noutput: {mode: json_object}\ninputs:")
    path = write_prompt(project, "probe", "1.0.0", text)
    exit_code, out = run("lint")
    assert exit_code == 0, out
    assert f"{path}:8: PK005 input 'spare' is declared but never used (warning)" in out
    assert f"{path}:4: PK006 structured output (json_object) at temperature 0.9" in out
    assert run("lint", "--strict")[0] == 1


def test_json_format(project: Path, write_prompt: WritePrompt) -> None:
    write_prompt(project, "probe", "1.0.0", OK_PROMPT.replace("inputs:", "colour: x\ninputs:"))
    exit_code, out = run("lint", "--format", "json")
    findings = json.loads(out)
    assert exit_code == 1
    assert findings[0]["code"] == "PK001" and findings[0]["line"] == 4


def test_misplaced_file(project: Path, write_prompt: WritePrompt) -> None:
    (project / "prompts" / "stray.prompt").write_text(OK_PROMPT, encoding="utf-8")
    exit_code, out = run("lint")
    assert exit_code == 1 and "stray.prompt:1: PK008" in out


def _commit_all(repo: git.Repo, message: str) -> None:
    repo.git.add(A=True)
    repo.index.commit(message, author=git.Actor("Ada", "ada@example.com"),
                      committer=git.Actor("Ada", "ada@example.com"))


def test_base_ref_refuses_edits_to_released_versions(project: Path, write_prompt: WritePrompt) -> None:
    repo = git.Repo.init(project)
    _commit_all(repo, "release sentiment")
    path = project / "prompts" / "sentiment" / "1.1.0.prompt"
    path.write_text(path.read_text().replace("careful", "meticulous"), encoding="utf-8")
    write_prompt(project, "probe", "1.0.0", OK_PROMPT)  # a new version is fine

    exit_code, out = run("lint", "--base", "HEAD")
    assert exit_code == 1, out
    findings = [row for row in out.splitlines() if "PK007" in row]
    assert len(findings) == 1
    assert findings[0].startswith(f"{path}:26: PK007 version 1.1.0 of sentiment was released")
    assert "promptkit new sentiment --from 1.1.0" in findings[0]
    assert run("lint")[0] == 0  # without --base the edit is not checked


def test_base_ref_that_git_does_not_know_is_a_usage_error(project: Path, write_prompt: WritePrompt) -> None:
    repo = git.Repo.init(project)
    _commit_all(repo, "init")
    exit_code, out = run("lint", "--base", "no-such-branch")
    assert exit_code == 2 and "git does not know the revision 'no-such-branch'" in out
    assert "Traceback" not in out
