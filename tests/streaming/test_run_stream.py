"""`promptkit run --stream`: the installed command prints tokens as the model writes them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from promptkit.cli import cli
from promptkit.testing import FakeOpenAIServer, Reply

EXE = str(Path(sys.executable).with_name("promptkit"))
ANSWER = "Open Settings, choose Billing, then Download invoice. Each month has its own PDF."
RUN = ["run", "support_assistant@1.0.0", "--var", "question=Where are my invoices?", "--stream"]


def start(project: Path, server: FakeOpenAIServer, *extra: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "x",
           "PYTHONWARNINGS": "ignore"}  # fmt: skip
    return subprocess.Popen([EXE, *RUN, *extra], cwd=project, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip


def test_run_stream_prints_tokens_as_they_arrive(project: Path) -> None:
    delay, size = 0.05, 8
    with FakeOpenAIServer(default=Reply(content=ANSWER, chunk_size=size,
                                        chunk_delay=delay)) as server:  # fmt: skip
        process = start(project, server)
        assert process.stdout is not None
        first = process.stdout.read1(1024)  # returns as soon as some output exists
        first_at = time.monotonic()
        rest, errors = process.communicate(timeout=60)
        ended_at = time.monotonic()
    assert process.returncode == 0, errors.decode()
    assert (first + rest).decode() == ANSWER + "\n"
    assert len(first) < len(ANSWER), "the first read got part of the answer, not all of it"
    chunks = -(-len(ANSWER) // size)
    assert ended_at - first_at > 0.5 * delay * (chunks - 2), "the rest came later, as written"
    body = server.chat_requests[-1].body
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


def invoke(server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch, *extra: str) -> Result:
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "x")
    return CliRunner().invoke(cli, [*RUN, *extra])


def test_run_stream_with_json_streams_to_stderr_and_reports_on_stdout(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeOpenAIServer(default=Reply(content=ANSWER, chunk_size=16)) as server:
        result = invoke(server, monkeypatch, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["output"] == ANSWER and report["usage"]["output_tokens"] > 0
    assert result.stderr == ANSWER + "\n"


def test_run_stream_cut_short_exits_1(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeOpenAIServer(default=Reply(content=ANSWER, chunk_size=8,
                                        stream_cut_after=4)) as server:  # fmt: skip
        result = invoke(server, monkeypatch)
    assert result.exit_code == 1
    assert result.stdout == ANSWER[:24] + "\n"
    assert result.stderr.startswith("error:") and "finish_reason" in result.stderr
