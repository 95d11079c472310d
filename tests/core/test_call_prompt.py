"""One way to call a prompt: `call_prompt` builds the request from the prompt's metadata
(model config, output spec, temperature, token limit), and the result carries the config
that answered and the call's cost, priced once."""

from __future__ import annotations

import json

from promptkit.core import Client, ModelConfig
from promptkit.templates import parse_prompt
from promptkit.testing import FakeOpenAIServer, Reply

PROMPT = """\
---
name: classify
version: 1.2.0
model: fast
temperature: 0.3
max_tokens: 40
inputs:
  text: string
output:
  mode: json_schema
  schema: {type: object, required: [label], properties: {label: {type: string}}}
---
user:
Label: {{ text }}
"""


def test_call_prompt_sends_the_prompts_settings_and_returns_config_and_cost() -> None:
    prompt = parse_prompt(PROMPT)
    reply = Reply(content={"label": "ok"}, usage={"prompt_tokens": 1000,
                                                  "completion_tokens": 500})
    with FakeOpenAIServer(default=reply) as server:
        fast = ModelConfig(name="fast", model="small", base_url=server.base_url,
                           api_key_env="", price_in=2.0, price_out=8.0)
        with Client([fast]) as client:
            result = client.call_prompt(prompt, {"text": "fine"}, metadata={"case": "a"})
        body = server.chat_requests[0].body
    assert body["messages"] == [{"role": "user", "content": "Label: fine"}]
    assert (body["model"], body["temperature"], body["max_tokens"]) == ("small", 0.3, 40)
    assert body["response_format"]["type"] == "json_schema"
    assert result.output == {"label": "ok"} and result.config == fast
    assert result.cost_usd == 1000 * 2.0 / 1e6 + 500 * 8.0 / 1e6 and result.cost_source
    assert result.metadata == {"prompt": "classify", "version": "1.2.0",
                               "content_hash": prompt.content_hash, "case": "a",
                               "variables": {"text": "fine"}}


def test_run_json_carries_the_cost(project, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from click.testing import CliRunner

    from promptkit.cli import cli

    (project / "prompts" / "classify").mkdir(parents=True)
    (project / "prompts" / "classify" / "1.2.0.prompt").write_text(PROMPT)
    reply = Reply(content={"label": "ok"}, usage={"prompt_tokens": 1000,
                                                  "completion_tokens": 500})
    with FakeOpenAIServer(default=reply) as server:
        (project / "pyproject.toml").write_text(
            '[project]\nname = "x"\n\n[tool.promptkit.models.fast]\nmodel = "small"\n'
            f'base_url = "{server.base_url}"\napi_key_env = ""\nprice_in = 2.0\n'
            'price_out = 8.0\n')
        result = CliRunner().invoke(cli, ["--project", str(project), "run",
                                          "classify@1.2.0", "--var", "text=fine", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["cost_usd"] == 0.006
