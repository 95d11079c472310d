"""Model configs and pins from the command line, in-process and as a real `promptkit`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from promptkit.cli import cli
from promptkit.registry import Registry
from promptkit.registry.pins import previous_pin
from promptkit.templates.library import PromptLibrary


@pytest.fixture
def run(project: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PROMPTKIT_DB_URL", sqlite_url)
    monkeypatch.setenv("PROMPTKIT_ACTOR", "bob@ci")

    def invoke(*args: str) -> tuple[int, str, str]:
        result = CliRunner().invoke(cli, list(args))
        return result.exit_code, result.stdout, result.stderr

    return invoke


def test_model_configs_are_set_merged_listed_shown_and_historied(run) -> None:
    code, out, err = run("config", "set", "default", "--model", "gpt-4o-mini", "--price-in",
                         "0.15", "--price-out", "0.6", "--capability", "json_object")
    assert code == 0, err
    assert out.startswith("default revision 1: model: None -> 'gpt-4o-mini'")
    run("config", "set", "local", "--model", "qwen", "--base-url", "http://127.0.0.1:8000/v1",
        "--api-key-env", "", "--fallback", "default")
    code, out, err = run("config", "set", "default", "--model", "gpt-4.1", "--reason", "upgrade")
    assert out.strip() == "default revision 2: model: 'gpt-4o-mini' -> 'gpt-4.1'"

    shown = json.loads(run("config", "show", "default")[1])
    assert (shown["model"], shown["price_in"], shown["capability"], shown["revision"]) == (
        "gpt-4.1", 0.15, "json_object", 2)  # fields not given stay as they were
    listed = json.loads(run("config", "list", "--json")[1])
    assert [(c["name"], c["fallback"], c["api_key_env"]) for c in listed] == [
        ("default", [], "OPENAI_API_KEY"), ("local", ["default"], "")]
    history = json.loads(run("config", "history", "default", "--json")[1])
    assert [(h["revision"], h["actor"], h["reason"]) for h in history] == [
        (1, "bob@ci", None), (2, "bob@ci", "upgrade")]
    assert history[1]["changed"] == {"model": ["gpt-4o-mini", "gpt-4.1"]}
    code, out, _ = run("config", "history", "default")
    assert out.splitlines()[1].endswith("model='gpt-4.1'  (upgrade)")


@pytest.mark.parametrize(("args", "message"), [
    (["--model", "m", "--api-key-env", "sk-live-1234abcd"], "never the key"),
    (["--temperature", "0.2"], "does not exist yet: give --model"),
    (["--model", "m", "--fallback", "nowhere"], "fallback nowhere of 'default' is not a model"),
    (["--model", "m", "--temperature", "7"], "less than or equal to 2"),
])
def test_bad_configs_are_refused_with_the_reason(run, args: list[str], message: str) -> None:
    code, _, err = run("config", "set", "default", *args)
    assert code == 2 and message in err
    assert "sk-live-1234abcd" not in err  # a key pasted by mistake is not echoed back


def test_config_show_of_an_unknown_name_says_how_to_create_it(run) -> None:
    code, _, err = run("config", "show", "fast")
    assert code == 2 and "promptkit config set fast --model MODEL" in err


def test_pins_lists_what_each_environment_serves(run) -> None:
    run("publish")
    run("pin", "sentiment", "1.1.0", "--env", "production", "--reason", "go")
    run("pin", "sentiment", "1.2.0", "--env", "staging", "--reason", "try")
    pins = json.loads(run("pins", "--json")[1])
    assert [(p["name"], p["env"], p["version"]) for p in pins] == [
        ("sentiment", "production", "1.1.0"), ("sentiment", "staging", "1.2.0")]


def test_the_installed_command_runs_the_cycle(project: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PROMPTKIT_DB_URL": f"sqlite:///{tmp_path / 'cli.db'}",
           "PROMPTKIT_ACTOR": "carol@deploy"}
    env.pop("PROMPTKIT_ROOT", None)
    promptkit = [sys.executable, "-m", "promptkit.cli"] if not _script() else [_script()]

    def cli_run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*promptkit, *args], cwd=project, env=env, capture_output=True,
                              text=True, timeout=60, check=False)

    registry = Registry(env["PROMPTKIT_DB_URL"])  # set up in-process: each run costs ~2 s
    registry.publish_library(PromptLibrary(project / "prompts"), ["sentiment"])
    for version in ("1.0.0", "1.1.0"):
        registry.pin("sentiment", version, env="production", reason="release")
    done = cli_run("rollback", "sentiment", "--env", "production", "--reason", "incident 42")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("sentiment@production: 1.1.0 -> 1.0.0  (rollback #3 by carol")
    rows = json.loads(cli_run("history", "sentiment", "--json").stdout)
    assert [(r["to_version"], r["actor"], r["reason"]) for r in rows][-1] == (
        "1.0.0", "carol@deploy", "incident 42")


def _script() -> str | None:
    path = Path(sys.executable).with_name("promptkit")
    return str(path) if path.is_file() else None


@pytest.mark.parametrize(("moves", "expected"), [
    ([], None),
    ([("1", "pin")], None),
    ([("1", "pin"), ("2", "pin")], "1"),
    ([("1", "pin"), ("2", "pin"), ("3", "pin"), ("2", "rollback")], "1"),  # walks back
    ([("1", "pin"), ("2", "pin"), ("2", "pin")], "1"),  # re-pinning the same is no new step
    ([("1", "pin"), ("2", "pin"), ("3", "pin"), ("1", "rollback")], None),
    ([("1", "pin"), ("2", "pin"), ("9", "rollback")], "1"),  # to a version never pinned
    ([("1", "pin"), ("2", "pin"), ("1", "rollback"), ("3", "promote")], "1"),
])
def test_rollback_goes_to_the_pin_before_the_current_one(
    moves: list[tuple[str, str]], expected: str | None
) -> None:
    assert previous_pin(moves) == expected


def test_a_typo_in_env_is_refused_with_the_known_environments(run, project: Path) -> None:
    """`pin --env prodution` used to create a new environment (exit 0) and leave production
    as it was: an unknown environment is refused unless declared or --create is given."""
    assert run("publish")[0] == 0
    code, _, err = run("pin", "sentiment", "1.1.0", "--env", "prodution", "--reason", "typo")
    assert code == 2
    assert "unknown environment 'prodution'; known: production, staging" in err
    assert run("pin", "sentiment", "1.1.0", "--env", "canary", "--reason", "new",
               "--create")[0] == 0
    code, _, err = run("pin", "sentiment", "1.2.0", "--env", "qa", "--reason", "x")
    assert code == 2 and "known: production, staging, canary" in err  # pinned ones count
    text = (project / "pyproject.toml").read_text() if (project / "pyproject.toml").exists() \
        else ""
    (project / "pyproject.toml").write_text(text + '\n[tool.promptkit]\nenvironments = '
                                            '["production", "staging", "qa"]\n')
    assert run("pin", "sentiment", "1.2.0", "--env", "qa", "--reason", "declared")[0] == 0


@pytest.mark.parametrize(("url", "said"), [
    ("notaurl", "database URL 'notaurl' cannot be used: Could not parse"),
    ("nosuchdb://x/y", "database URL nosuchdb://x/y cannot be used: Can't load plugin"),
    ("sqlite:////proc/no/such/folder/x.db", "cannot make its folder"),
])
def test_a_bad_database_url_is_one_line_and_exit_2_in_every_command(
    project: Path, monkeypatch: pytest.MonkeyPatch, url: str, said: str,
) -> None:
    monkeypatch.setenv("PROMPTKIT_DB_URL", url)
    for args in (["pins"], ["publish"], ["config", "list"],
                 ["pin", "sentiment", "1.2.0", "--env", "production", "--reason", "x"]):
        result = CliRunner().invoke(cli, ["--project", str(project), *args])
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert result.exit_code == 2, (args, result.output)
        assert len(lines) == 1 and said in lines[0], (args, result.output)
