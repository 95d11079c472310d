"""No credential reaches a file: after real calls that carried keys of every provider (in
the prompt's input, in the model's answer, and as the API key itself, under a variable whose
name does not look secret), the recordings, the call log's database and every report format
hold none of them. Grep-style: the bytes of every file the run wrote are searched."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from promptkit.cli import cli
from promptkit.errors import ModelCallError, PromptkitError
from promptkit.redact import KEY_SHAPES, REDACTED, Scrubber
from promptkit.testing.fake_server import FakeOpenAIServer
from promptkit.testing.replies import Reply

CONFIG_KEY = "cfgval-Zq81xPw0LmR2vT6yKd9s"  # named by api_key_env; the name says nothing
SECRETS = {
    "openai": "sk-proj-" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8S9t0",
    "anthropic": "sk-ant-api03-" + "x" * 20 + "Y" * 20,
    "google": "AIza" + "SyD-1234567890abcdefghijklmnopqrstu",
    "google-oauth": "ya29." + "a0AfH6SMB" * 3,
    "hugging face": "hf_" + "aBcDeFgHiJkLmNoPqRsTuVwXyZ012345",
    "aws id": "AKIA" + "IOSFODNN7EXAMPLE",
    "aws secret": "aws_secret_access_key=" + "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "azure": "api-key: " + "0123456789abcdef0123456789abcdef",
    "bearer": "Bearer eyJhbGciOi.payload-part.signature_part",
}
PROMPT = """\
---
name: echo
version: {version}
model: default
inputs:
  text: string
---
user:
[v{version}] {{{{ text }}}}
"""


def _echo(body: dict, index: int) -> Reply:
    return Reply(content=f"you said: {body['messages'][-1]['content']} {CONFIG_KEY}")


ENV_NAMES = ("PROMPTKIT_ROOT", "PROMPTKIT_PROMPTS_DIR", "PROMPTKIT_DB_URL",
             "PROMPTKIT_FIXTURES_DIR", "PROMPTKIT_EVALS_DIR")


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LLM_ACCESS", CONFIG_KEY)
    root = tmp_path / "p"
    for version in ("1.0.0", "1.1.0"):
        path = root / "prompts" / "echo" / f"{version}.prompt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(PROMPT.format(version=version))
    cases = "".join(f'  - id: {re.sub(r"[^a-z]", "-", name)}\n    vars: {{text: "{value}"}}\n'
                    for name, value in SECRETS.items())
    (root / "evals").mkdir()
    (root / "evals" / "echo.yaml").write_text(
        f"prompt: echo\nassert:\n  - contains: {{value: nothing-like-this}}\ncases:\n{cases}")
    return root


def test_recordings_call_log_and_reports_hold_no_credential(project: Path) -> None:
    with FakeOpenAIServer(handler=_echo) as server:
        (project / "pyproject.toml").write_text(
            '[project]\nname = "p"\n\n[tool.promptkit.models.default]\nmodel = "m"\n'
            f'base_url = "{server.base_url}"\napi_key_env = "LLM_ACCESS"\n')
        out = project / "out"
        result = CliRunner().invoke(cli, [
            "--project", str(project), "gate", "echo", "--candidate", "1.1.0", "--baseline",
            "1.0.0", "--record", "all", *(f"--report={out / f'gate.{s}'}"
                                          for s in ("md", "html", "json", "csv"))])
        assert server.chat_requests, result.output
        sent = server.chat_requests[0]
    assert sent.headers["authorization"] == f"Bearer {CONFIG_KEY}"  # the key did travel
    assert any(value in sent.body["messages"][-1]["content"] for value in SECRETS.values())
    written = [p for p in project.rglob("*") if p.is_file() and "prompts" not in p.parts
               and "evals" not in p.parts and p.name != "pyproject.toml"]
    assert {p.suffix for p in written} >= {".json", ".md", ".html", ".csv", ".db"}
    leaks = [(p.name, name) for p in written for name, value in
             {**SECRETS, "config key": CONFIG_KEY}.items()
             if _bare(value).encode() in p.read_bytes()]
    assert leaks == [], leaks
    assert REDACTED in (out / "gate.md").read_text() + (out / "gate.json").read_text()
    shown = result.output  # the summary printed for the pull request
    assert not [name for name, value in SECRETS.items() if _bare(value) in shown]
    assert CONFIG_KEY not in shown


def _bare(value: str) -> str:
    """The secret part of a value written with its label (`api-key: …`, `Bearer …`)."""
    return re.split(r"[:= ]\s*", value, maxsplit=1)[-1] if re.match(r"^[\w-]+[:= ]", value) \
        else value


def test_every_key_shape_is_recognised_and_ordinary_text_is_not() -> None:
    scrub = Scrubber(environ={})
    for name, value in SECRETS.items():
        assert _bare(value) not in scrub.text(f"here: {value} ."), name
    ordinary = "sk-short, Bearer, AKIA1, hf_x, the api key is in the vault, sha256:" + "a" * 64
    assert scrub.text(ordinary) == ordinary
    assert Scrubber(environ={}, also=[CONFIG_KEY]).text(f"x{CONFIG_KEY}y") == f"x{REDACTED}y"


EVERY_SHAPE = (  # one credential per shape in KEY_SHAPES, in that order
    "sk-" + "Zq81xPw0LmR2vT6yKd9s", "Bearer eyJhbGciOi.payload", "AIza" + "B" * 35,
    "ya29." + "c" * 20, "ghp_" + "D" * 20, "xai-" + "E" * 20, "github_pat_" + "F" * 20,
    "xoxb-" + "1" * 10, "ASIA" + "2" * 16, "AWS_Secret_Access_Key = " + "g" * 40,
    "API-KEY: " + "h" * 32, "SharedAccessKey=" + "i" * 20,
)


@pytest.mark.parametrize("around", ["plain ASCII {} here", "non-ASCII — {} — ünïcode"])
def test_the_quick_look_for_a_secret_never_skips_one(around: str) -> None:
    """A text is returned untouched without running the pattern only when it holds none of
    a shape's fixed parts (ASCII text) and no literal secret: every shape is still caught,
    whatever its case, and so is a literal."""
    assert len(EVERY_SHAPE) == len(KEY_SHAPES)
    scrub = Scrubber(environ={"OUR_TOKEN": "literal-0123456789"})
    for shape, secret in zip(KEY_SHAPES, EVERY_SHAPE, strict=True):
        assert re.search(shape, secret), shape
        assert REDACTED in scrub.text(around.format(secret)), shape
    assert scrub.text(around.format("xliteral-0123456789y")) == around.format(f"x{REDACTED}y")
    assert scrub.text(around.format("nothing to see")) == around.format("nothing to see")


def test_an_error_message_never_shows_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOME_API_KEY", "value-of-some-api-key-123")
    error = ModelCallError(f"401 from the endpoint: {SECRETS['openai']} and "
                           "value-of-some-api-key-123 rejected")
    assert isinstance(error, PromptkitError)
    assert SECRETS["openai"] not in str(error) and "value-of-some" not in str(error)
    assert str(error).startswith("401 from the endpoint: [REDACTED]")


def _document(secret: str, *, key: str = "content") -> str:
    return json.dumps({"model": "m", "max_tokens": 5, "messages": [
        {"role": "user", key: f"say {secret} now"}]}, separators=(",", ":"))


@pytest.mark.parametrize("encode", [
    lambda s: s,  # as written
    lambda s: s.replace("k", "\\u006b").replace("e", "\\u0065"),  # letters as \\u escapes
    lambda s: s.replace("/", "\\/"),  # a slash escaped, as some servers send it
])
def test_one_look_at_a_json_text_never_passes_what_the_walk_would_change(encode) -> None:
    """`clean` lets a document skip the string-by-string walk: every credential shape, every
    literal and every secret-named field in a JSON text keeps it from being called clean,
    however the text escapes its letters, and whatever the walk changes is not clean."""
    scrub = Scrubber(environ={"OUR_TOKEN": "literal/0123456789"})
    secrets = [*EVERY_SHAPE, *SECRETS.values(), "xliteral/0123456789y"]
    for secret in secrets:
        text = encode(_document(secret))
        assert scrub.data(json.loads(text)) != json.loads(text), secret  # the walk changes it
        assert not scrub.clean(text), secret
    for field in ("api_key", "Authorization", "X-API-KEY", "client_secret", "password"):
        text = _document("nothing here", key=field)
        assert scrub.data(json.loads(text)) != json.loads(text), field
        assert not scrub.clean(text), field
    ordinary = _document('an ordinary sentence, with "quotes"\nand lines')
    parsed = json.loads(ordinary)
    assert scrub.clean(ordinary) and scrub.data(parsed) is parsed  # no walk, no copy
    assert not scrub.clean(_document("caf\u00e9"))  # non-ASCII: the walk decides


def test_a_literal_that_json_escapes_is_never_looked_for_in_json_text() -> None:
    scrub = Scrubber(environ={"QUOTED_TOKEN": 'pass"word-0123'})
    text = json.dumps({"content": 'my pass"word-0123'})
    assert not scrub.clean(text)
    assert REDACTED in scrub.data(json.loads(text))["content"]
