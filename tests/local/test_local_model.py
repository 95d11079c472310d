"""The real local model (SmolLM2-135M-Instruct on llama-cpp-python) through promptkit's core.

These need the `[local]` extra: skipped with the pip command as reason when it is absent,
failed when CI=true. Figures are printed (`-s`) for docs/local-model.md.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import openai
import pytest
from click.testing import CliRunner

from promptkit.cli import cli
from promptkit.core import Client, ModelConfig
from promptkit.local.process import is_alive
from promptkit.local.state import STATE_FILE
from promptkit.templates import PromptLibrary

pytestmark = pytest.mark.local_model

REPO = Path(__file__).resolve().parents[2]
ASK = [{"role": "user", "content": "What is the capital of France? Answer in one word."}]


@pytest.fixture(scope="module")
def client(local_model: ModelConfig) -> Iterator[Client]:
    with Client([local_model]) as started:
        yield started


def test_a_real_chat_completion_comes_back_with_usage(client: Client) -> None:
    began = time.monotonic()
    result = client.call(ASK, config="local", temperature=0, max_tokens=64)
    seconds = time.monotonic() - began
    assert isinstance(result.output, str) and "paris" in result.output.lower()
    assert result.usage.input_tokens > 0 and result.usage.output_tokens > 0
    print(f"\nchat: {result.output!r}, {result.usage.output_tokens} tokens "
          f"in {seconds:.2f} s")


def test_temperature_zero_answers_do_not_depend_on_the_request_before(client: Client) -> None:
    """Asked after another request, and again right after itself (when llama-cpp would reuse
    its KV cache: this prompt then answered a different sentence), the answer is the same."""
    sea = [{"role": "user", "content": "Write one short sentence about the sea."}]
    other = [{"role": "user", "content": "What is the capital of Italy? One word."}]
    outputs = []
    for ask in (sea, other, sea, sea):
        outputs.append(client.call(ask, config="local", temperature=0, max_tokens=60).output)
    assert outputs[0] == outputs[2] == outputs[3], outputs


def test_sentiment_prompt_returns_schema_valid_json(client: Client) -> None:
    prompt = PromptLibrary(REPO / "prompts").load("sentiment", "1.2.0")
    schema = prompt.meta.output.json_schema
    began = time.monotonic()
    result = client.call(prompt.render(text="I love it"), config="local",
                         output=prompt.meta.output, temperature=0,
                         max_tokens=prompt.meta.max_tokens)
    seconds = time.monotonic() - began
    jsonschema.validate(result.output, schema)
    assert result.output["sentiment"] == "positive"
    print(f"\nsentiment@1.2.0 'I love it': {json.dumps(result.output)} in {seconds:.2f} s, "
          f"{len(result.attempts)} attempt(s), {result.usage.output_tokens} tokens out")


CITY_TOOL = {"type": "function", "function": {
    "name": "record_city", "description": "Record a city and its country.",
    "parameters": {"type": "object", "required": ["city", "country"],
                   "properties": {"city": {"type": "string"}, "country": {"type": "string"}}}}}
NAMED = {"type": "function", "function": {"name": "record_city"}}
PARIS: list[dict[str, Any]] = [{"role": "user", "content": "Paris is the capital of France."}]


@pytest.fixture(scope="module")
def sdk(local_model: ModelConfig) -> openai.OpenAI:
    return openai.OpenAI(base_url=local_model.base_url, api_key="no-key", max_retries=0)


def chat(sdk: openai.OpenAI, model: ModelConfig, **params: Any) -> Any:
    """One raw request, the SDK's own retries off: what the server itself answers."""
    return sdk.chat.completions.create(model=model.model, temperature=0, **params)


def test_tools_are_called_only_with_a_named_tool_choice(
    sdk: openai.OpenAI, local_model: ModelConfig
) -> None:
    def ask(choice: object) -> Any:
        reply = chat(sdk, local_model, messages=PARIS, tools=[CITY_TOOL], tool_choice=choice,
                     max_tokens=20)
        return reply.choices[0].message

    named = ask(NAMED)
    assert [c.function.name for c in named.tool_calls] == ["record_city"]
    assert ask("auto").tool_calls is None, "with tool_choice auto the model answers in text"


def test_a_tool_call_turn_needs_string_content_to_be_sent_back(
    sdk: openai.OpenAI, local_model: ModelConfig
) -> None:
    """Why a tool-mode re-ask fails here: the server refuses `content: null` (HTTP 500)."""
    call = {"id": "call_1", "type": "function",
            "function": {"name": "record_city", "arguments": '{"city": "Paris"}'}}
    def turn(content: str | None) -> list[dict[str, Any]]:
        return [*PARIS, {"role": "assistant", "content": content, "tool_calls": [call]},
                {"role": "tool", "tool_call_id": "call_1", "content": "country is missing"}]

    def send(content: str | None) -> Any:
        return chat(sdk, local_model, messages=turn(content), tools=[CITY_TOOL],
                    tool_choice=NAMED, max_tokens=30)

    with pytest.raises(openai.InternalServerError, match="valid string"):
        send(None)
    assert send("").choices[0].message.tool_calls


def test_json_object_takes_a_schema_and_json_schema_is_a_server_error(
    sdk: openai.OpenAI, local_model: ModelConfig
) -> None:
    """Why `local` says capability json_object_schema."""
    assert local_model.capability == "json_object_schema"
    ask = [{"role": "user", "content": "Give the capital of France as JSON."}]
    reply = chat(sdk, local_model, messages=ask, max_tokens=40,
                 response_format={"type": "json_object"})
    assert isinstance(json.loads(reply.choices[0].message.content), dict)
    schema = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}
    capital = {"type": "object", "additionalProperties": False, "required": ["city", "country"],
               "properties": {"city": {"type": "string"}, "country": {"type": "string"}}}
    reply = chat(sdk, local_model, messages=ask, max_tokens=40,
                 response_format={"type": "json_object", "schema": capital})
    jsonschema.validate(json.loads(reply.choices[0].message.content), capital)
    with pytest.raises(openai.InternalServerError, match="'text' or 'json_object'"):
        chat(sdk, local_model, messages=ask, max_tokens=20,
             response_format={"type": "json_schema",
                              "json_schema": {"name": "out", "schema": schema}})


def test_serve_status_stop_through_the_cli(tmp_path: Path, local_model: ModelConfig) -> None:
    runner = CliRunner()
    project = ["--project", str(tmp_path)]
    began = time.monotonic()
    served = runner.invoke(cli, [*project, "local", "serve", "--port", "0"])
    started_s = time.monotonic() - began
    try:
        assert served.exit_code == 0, served.output
        state = json.loads((tmp_path / STATE_FILE).read_text())
        assert f"at http://127.0.0.1:{state['port']}/v1" in served.output
        assert is_alive(state["pid"])
        status = runner.invoke(cli, [*project, "local", "status", "--json"])
        assert json.loads(status.output)["config"]["model"] == local_model.model
    finally:
        stopped = runner.invoke(cli, [*project, "local", "stop"])
    assert stopped.exit_code == 0 and "stopped" in stopped.output
    assert not is_alive(state["pid"])
    assert not (tmp_path / STATE_FILE).exists()
    print(f"\nserve → ready in {started_s:.1f} s")


@pytest.mark.usefixtures("local_extra")
def test_foreground_serve_ends_with_its_server_on_sigterm(tmp_path: Path) -> None:
    command = [sys.executable, "-c", "from promptkit.cli import main; main()",
               "--project", str(tmp_path), "local", "serve", "--foreground", "--port", "0"]
    terminal = tmp_path / "terminal.txt"
    with terminal.open("wb") as out:
        cli_process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        state = _wait_for_state(tmp_path / STATE_FILE, cli_process)
        assert is_alive(state["pid"])
        cli_process.send_signal(signal.SIGTERM)
        cli_process.wait(timeout=30)
    finally:
        cli_process.kill()
    output = terminal.read_text(errors="replace")
    assert cli_process.returncode == 0, output
    assert "Uvicorn running" in output, "the server's own log goes to the terminal"
    assert not is_alive(state["pid"])
    assert not (tmp_path / STATE_FILE).exists()


def _wait_for_state(path: Path, process: subprocess.Popen[bytes]) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while not path.exists():
        assert process.poll() is None, "the foreground serve exited early"
        assert time.monotonic() < deadline, "no state file within 60 s"
        time.sleep(0.1)
    return dict(json.loads(path.read_text()))
