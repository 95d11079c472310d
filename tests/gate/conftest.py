"""Fixtures of the gate tests: the recorded project (once per session), a fresh copy of it
per test, and the `promptkit` command run in-process in that copy."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from gate_helpers import ENV_NAMES, Invoke, answer, record, write_project

from promptkit.cli import cli
from promptkit.testing.fake_server import FakeOpenAIServer


@pytest.fixture(scope="session")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project, recorded once per test session (the server is gone afterwards)."""
    root = tmp_path_factory.mktemp("recorded")
    with pytest.MonkeyPatch.context() as mp:
        for name in ENV_NAMES:
            mp.delenv(name, raising=False)
        mp.setenv("FAKE_KEY", "sk-test-gate-000")
        with FakeOpenAIServer(handler=answer) as server:
            write_project(root, server.base_url)
            record(root)
    return root


@pytest.fixture
def gate_project(recorded: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh copy of the recorded project (its own database), made the working directory."""
    root = tmp_path / "project"
    shutil.copytree(recorded, root, ignore=shutil.ignore_patterns(".promptkit"))
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("FAKE_KEY", raising=False)
    monkeypatch.setenv("PROMPTKIT_ACTOR", "alice@ci")
    monkeypatch.chdir(root)
    return root


@pytest.fixture
def promptkit(gate_project: Path) -> Iterator[Invoke]:
    """Run a `promptkit` command in-process in the project: (exit code, stdout, stderr)."""

    def invoke(*args: str) -> tuple[int, str, str]:
        result = CliRunner().invoke(cli, ["--project", str(gate_project), *args])
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result.exit_code, result.stdout, result.stderr

    yield invoke
