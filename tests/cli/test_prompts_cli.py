"""The prompt commands as a user runs them: list, show, render, diff, new, log."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import git
from click.testing import CliRunner

from promptkit.cli import cli


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_list_shows_the_examples_with_their_versions(project: Path) -> None:
    code, out = run("list")
    assert code == 0
    assert out.splitlines() == [
        "extract_contact          1.0.0",
        "sentiment                1.0.0, 1.1.0, 1.2.0",
        "support_assistant        1.0.0, 1.1.0, 1.2.0",
    ]
    code, out = run("list", "--json")
    assert json.loads(out)[1] == {"name": "sentiment", "versions": ["1.0.0", "1.1.0", "1.2.0"]}


def test_render_prints_the_messages_as_json(project: Path) -> None:
    code, out = run("render", "sentiment@1.2.0", "--var", "text=I love it")
    assert code == 0, out
    messages = json.loads(out)
    assert messages[-1] == {"role": "user", "content": "I love it"}
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]


def test_render_without_a_variable_exits_2_and_names_it(project: Path) -> None:
    code, out = run("render", "sentiment@1.2.0")
    assert code == 2
    assert "missing variable 'text'" in out and "sentiment@1.2.0" in out
    assert "Traceback" not in out


def test_render_takes_json_values_and_a_vars_file(project: Path) -> None:
    (project / "vars.json").write_text(json.dumps({"question": "Why?", "product": "Zed"}))
    code, out = run("render", "support_assistant@1.2.0", "--vars", "vars.json",
                    "--var", 'documents=[{"source": "kb-1", "text": "Zed is fast."}]')
    assert code == 0, out
    system = json.loads(out)[0]["content"]
    assert "support assistant for Zed" in system and "[kb-1] Zed is fast." in system


def test_unknown_prompt_or_version_exits_2(project: Path) -> None:
    code, out = run("show", "sentiment@9.9.9")
    assert code == 2 and "no version '9.9.9' (known: 1.0.0, 1.1.0, 1.2.0)" in out
    code, out = run("render", "nosuch@1.0.0")
    assert code == 2 and "no prompt named 'nosuch'" in out


def test_show_prints_hash_and_source(project: Path) -> None:
    code, out = run("show", "sentiment")  # latest
    assert code == 0
    assert out.startswith("# sentiment@1.2.0  sha256:")
    assert "name: sentiment" in out


def test_diff_is_a_unified_diff(project: Path) -> None:
    code, out = run("diff", "support_assistant", "1.0.0", "1.1.0")
    assert code == 0
    assert out.startswith("--- support_assistant@1.0.0\n+++ support_assistant@1.1.0\n")
    assert '+If you do not know the answer, say "I don\'t know" instead of guessing.' in out


def test_new_copies_into_the_next_version(project: Path) -> None:
    code, out = run("new", "sentiment", "--from", "1.0.0")
    assert code == 0, out
    created = project / "prompts" / "sentiment" / "1.3.0.prompt"
    assert created.is_file()
    text = created.read_text()
    assert "version: 1.3.0\n" in text and "Classify the sentiment of a short text." in text
    assert run("lint")[0] == 0
    code, out = run("new", "sentiment", "--version", "1.3.0")
    assert code == 2 and "already exists" in out


def test_log_outside_git_says_so(project: Path) -> None:
    code, out = run("provenance", "sentiment")
    assert code == 0
    assert "not inside a git repository" in out
    assert "1.0.0      (not committed)" in out


def test_log_names_the_commit_and_author_of_each_version(project: Path) -> None:
    repo = git.Repo.init(project)
    ada, bob = git.Actor("Ada", "ada@example.com"), git.Actor("Bob", "bob@example.com")
    repo.index.add([str(p) for p in project.glob("prompts/sentiment/1.[01].0.prompt")])
    first = repo.index.commit("sentiment 1.0 and 1.1", author=ada, committer=ada)
    repo.index.add([str(project / "prompts/sentiment/1.2.0.prompt")])
    second = repo.index.commit("sentiment 1.2: few-shot", author=bob, committer=bob)

    code, out = run("provenance", "sentiment")
    rows = out.splitlines()
    assert code == 0
    assert rows[0].startswith(f"1.0.0      {first.hexsha[:10]}") and "Ada <ada@example.com>" in rows[0]
    assert rows[2].startswith(f"1.2.0      {second.hexsha[:10]}") and "Bob <bob@example.com>" in rows[2]
    assert rows[2].endswith("sentiment 1.2: few-shot")


def test_help_everywhere() -> None:
    for args in (["--help"], ["render", "--help"], ["lint", "--help"], ["new", "--help"]):
        code, out = run(*args)
        assert code == 0 and "Usage:" in out


def test_the_installed_console_script(project: Path) -> None:
    exe = Path(sys.executable).with_name("promptkit")
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    done = subprocess.run([str(exe), "render", "sentiment@1.2.0", "--var", "text=I love it"],
                          capture_output=True, text=True, env=env, cwd=project, check=False)
    assert done.returncode == 0, done.stderr
    assert "I love it" in done.stdout
    missing = subprocess.run([str(exe), "render", "sentiment@1.2.0"], capture_output=True,
                             text=True, env=env, cwd=project, check=False)
    assert missing.returncode == 2
    assert "missing variable 'text'" in missing.stderr and "Traceback" not in missing.stderr


def test_var_values_follow_the_declared_input_types(tmp_path: Path) -> None:
    """`--var n=2` is an integer where n is declared one, `--var text=true` stays a string
    where text is declared a string, and a value of the wrong type is a usage error."""
    from click.testing import CliRunner

    from promptkit.cli import cli

    folder = tmp_path / "prompts" / "typed"
    folder.mkdir(parents=True)
    (folder / "1.0.0.prompt").write_text(
        "---\nname: typed\nversion: 1.0.0\ninputs:\n  text: string\n  n: integer\n"
        "  ok: boolean\n---\nuser:\n{{ text }} {{ n + 1 }} {{ ok }}\n")

    def render(*pairs: str) -> tuple[int, str]:
        args = ["--project", str(tmp_path), "render", "typed"]
        result = CliRunner().invoke(cli, [*args, *(f"--var={p}" for p in pairs)])
        return result.exit_code, result.output

    code, out = render("text=true", "n=2", "ok=false")
    assert code == 0 and '"content": "true 3 False"' in out
    code, out = render("text=hi", "n=two", "ok=false")
    assert code == 2 and "--var n=two: the prompt declares n as integer" in out


def test_a_reference_that_reaches_outside_prompts_is_refused_before_opening(
    tmp_path: Path,
) -> None:
    """`../../elsewhere/x@1.0.0` opened and parsed a file outside prompts/."""
    from click.testing import CliRunner

    from promptkit.cli import cli

    outside = tmp_path / "elsewhere" / "x"
    outside.mkdir(parents=True)
    (outside / "1.0.0.prompt").write_text("---\nname: x\nversion: 1.0.0\n---\nuser:\nhi\n")
    (tmp_path / "p" / "prompts").mkdir(parents=True)
    for ref in ("../elsewhere/x@1.0.0", "../../elsewhere/x", "sentiment@../../x"):
        result = CliRunner().invoke(cli, ["--project", str(tmp_path / "p"), "show", ref])
        assert result.exit_code == 2, (ref, result.output)
        assert any(f"is not a{n}" in result.output
                   for n in (" prompt name", " version", "n environment name"))
