"""`promptkit run` end to end: the installed command against a real server on 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest

from promptkit.templates import PromptLibrary
from promptkit.testing.fake_server import FakeOpenAIServer
from promptkit.testing.replies import Reply

ANSWER = {"sentiment": "positive", "confidence": 0.97, "reasoning": "The text says love."}
EXE = str(Path(sys.executable).with_name("promptkit"))


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(default=Reply(content=ANSWER)) as fake:
        yield fake


SECRET = "sk-proj-secret-0123456789abcdef"


def promptkit(project: Path, server: FakeOpenAIServer, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": SECRET,
           "PYTHONWARNINGS": "ignore"}
    return subprocess.run([EXE, *args], cwd=project, env=env, capture_output=True, text=True,
                          check=False, timeout=60)


def test_run_prints_schema_valid_json(project: Path, server: FakeOpenAIServer) -> None:
    done = promptkit(project, server, "run", "sentiment@1.2.0", "--var", "text=I love it")
    assert done.returncode == 0, done.stderr
    output = json.loads(done.stdout)
    schema = PromptLibrary(project / "prompts").load("sentiment", "1.2.0").meta.output.json_schema
    jsonschema.validate(output, schema)
    assert output == ANSWER
    sent = server.requests[-1].body
    assert sent["messages"][-1] == {"role": "user", "content": "I love it"}
    assert sent["temperature"] == 0.0 and sent["max_tokens"] == 200  # task preset, front matter
    assert sent["response_format"]["type"] == "json_schema"


def test_json_shows_the_attempts_including_retries(project: Path, server: FakeOpenAIServer) -> None:
    server.enqueue(Reply(status=500))
    done = promptkit(project, server, "run", "sentiment@1.2.0", "--var", "text=I love it", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert [(a["kind"], a["status"]) for a in report["attempts"]] == [("first", 500), ("retry", 200)]
    assert report["usage"]["input_tokens"] > 0 and report["prompt"] == "sentiment@1.2.0"


def failing_run(project: Path, server: FakeOpenAIServer, *args: str) -> int:
    """`promptkit run` against a server that always answers 500: the requests it made."""
    server.default = Reply(status=500)
    done = promptkit(project, server, "run", "sentiment@1.2.0", "--var", "text=x", *args)
    assert done.returncode == 1, done.stderr
    return len(server.chat_requests)


def test_retries_follow_pyproject_then_environment_then_the_option(
    project: Path, server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    with (project / "pyproject.toml").open("a") as pyproject:
        pyproject.write("\n[tool.promptkit.retry]\nmax_attempts = 2\nbackoff_base_s = 0.01\n")
    assert failing_run(project, server) == 2
    server.clear()
    monkeypatch.setenv("PROMPTKIT_RETRY_MAX_ATTEMPTS", "3")
    assert failing_run(project, server) == 3
    server.clear()
    assert failing_run(project, server, "--retries", "0") == 1


def test_a_bad_retry_setting_is_one_line_naming_the_file_and_the_key(
    project: Path, server: FakeOpenAIServer
) -> None:
    with (project / "pyproject.toml").open("a") as pyproject:
        pyproject.write("\n[tool.promptkit.retry]\nmax_attempts = 0\n")
    done = promptkit(project, server, "run", "sentiment@1.2.0", "--var", "text=x")
    assert done.returncode == 2
    error = done.stderr.strip()
    assert len(error.splitlines()) == 1, error
    assert "pyproject.toml: [tool.promptkit.retry] max_attempts = 0: expected an integer" in error
    assert server.requests == []


def test_a_model_failure_exits_1_with_one_line(project: Path, server: FakeOpenAIServer) -> None:
    server.default = Reply(status=401, error_code="invalid_api_key")
    done = promptkit(project, server, "run", "sentiment@1.2.0", "--var", "text=x")
    assert done.returncode == 1
    assert done.stderr.startswith("error: ") and "Traceback" not in done.stderr
    assert len(server.requests) == 1  # a 401 is not retried


def test_invalid_output_exits_1_after_the_reasks(project: Path, server: FakeOpenAIServer) -> None:
    server.default = Reply(content={"sentiment": "ecstatic", "confidence": 2, "reasoning": "?"})
    done = promptkit(project, server, "run", "sentiment@1.2.0", "--var", "text=x")
    assert done.returncode == 1
    assert done.stderr.startswith("error: the output broke its schema after 2 re-ask(s)")
    assert "$.sentiment: 'ecstatic' is not one of" in done.stderr
    assert len(server.requests) == 3  # the first answer and two re-asks


def test_a_usage_error_exits_2(project: Path, server: FakeOpenAIServer) -> None:
    done = promptkit(project, server, "run", "sentiment@1.2.0")
    assert done.returncode == 2 and "missing variable 'text'" in done.stderr
    assert server.requests == []
    unknown = promptkit(project, server, "run", "sentiment@1.2.0", "--var", "text=x", "--model", "nope")
    assert unknown.returncode == 2 and "no model config named 'nope'" in unknown.stderr


def test_every_run_lands_in_the_call_log(project: Path, server: FakeOpenAIServer) -> None:
    server.enqueue(Reply(status=500))
    assert promptkit(project, server, "run", "sentiment@1.2.0", "--var", "text=I love it").returncode == 0
    failed = promptkit(project, server, "run", "sentiment@1.1.0", "--var", "text=x", "--model", "default")
    assert failed.returncode == 0
    logs = promptkit(project, server, "logs", "--json")
    assert logs.returncode == 0, logs.stderr
    rows = json.loads(logs.stdout)
    assert sorted((r["prompt"], r["version"]) for r in rows) == [
        ("sentiment", "1.1.0"), ("sentiment", "1.2.0")]
    first = next(r for r in rows if r["version"] == "1.2.0")
    assert first["attempt_count"] == 2 and first["error_type"] is None
    assert SECRET not in logs.stdout
    assert SECRET not in (project / ".promptkit" / "promptkit.db").read_bytes().decode("latin-1")
