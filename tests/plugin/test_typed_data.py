"""Schemas by their own draft with formats checked, dataset rows read by the declared input
types, `python` checks found from the project root, and image inputs recorded by hash: real
pytest sessions over a project whose root is not the current folder (so nothing is
importable from it by accident), against the fake OpenAI server on 127.0.0.1."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from promptkit.testing.fake_server import FakeOpenAIServer
from promptkit.testing.replies import Reply

CONTACT_PROMPT = """\
---
name: contact
version: 1.0.0
inputs:
  text: string
  quantity: {type: integer, minimum: 1}
output:
  mode: json_object
---
user:
{{ text }} x{{ quantity * 2 }}
"""

DRAFT7_SCHEMA = """\
        $schema: "http://json-schema.org/draft-07/schema#"
        type: object
        required: [email, pair]
        properties:
          email: {type: string, format: email}
          pair: {type: array, items: [{type: string}, {type: integer}]}
"""


def contact_reply(body: dict[str, Any], index: int) -> Reply:
    """A bad address for a text that mentions `bad`, a good one otherwise."""
    text = body["messages"][-1]["content"]
    email = "not-an-email" if "bad" in text else "ada@example.com"
    return Reply(content={"email": email, "pair": ["n", 1], "echo": text})


def make_project(pytester: pytest.Pytester, server: FakeOpenAIServer, suite: str,
                 files: dict[str, str | bytes]) -> Path:
    """A project in `app/` (pyproject.toml, prompts, evals), run from its parent folder."""
    root = pytester.path / "app"
    (root / "evals").mkdir(parents=True)
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    (root / "evals" / "suite.yaml").write_text(suite, encoding="utf-8")
    (root / "pyproject.toml").write_text(
        '[tool.promptkit.models.default]\nmodel = "fake-model"\n'
        f'base_url = "{server.base_url}"\napi_key_env = "FAKE_KEY"\n'
        '[tool.pytest.ini_options]\nasyncio_default_fixture_loop_scope = "function"\n')
    return root


@pytest.fixture(autouse=True)
def fake_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_KEY", "sk-test-secret-123")


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest("app/evals", "-v", "-p", "no:cacheprovider", *args)


def test_a_draft07_schema_with_format_email_rejects_a_bad_address(
    pytester: pytest.Pytester, server: FakeOpenAIServer
) -> None:
    """The draft-07 tuple `items` crashed the 2020-12 validator, and `format` went unchecked."""
    server.handler = contact_reply
    suite = ("prompt: contact\nassert:\n  - schema:\n      schema:\n" + DRAFT7_SCHEMA
             + "cases:\n  - {id: good, vars: {text: hello, quantity: 1}}\n"
             "  - {id: bad, vars: {text: bad, quantity: 1}}\n")
    make_project(pytester, server, suite, {"prompts/contact/1.0.0.prompt": CONTACT_PROMPT})
    result = run(pytester, "--prompt-record=once")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*::contact@1.0.0::good PASSED*",
                                 "*::contact@1.0.0::bad FAILED*",
                                 "*output breaks the schema at email: 'not-an-email' is not a "
                                 "'email'*"])
    result.stdout.no_fnmatch_line("*AttributeError*")


def test_a_csv_integer_column_is_read_as_the_prompt_declares_it(
    pytester: pytest.Pytester, server: FakeOpenAIServer
) -> None:
    """A CSV cell is text; the prompt's `quantity: integer` makes `3` the number 3 (so the
    template doubles it), and a cell that is no integer names the file, line and column."""
    server.handler = contact_reply
    make_project(pytester, server, "prompt: contact\ndataset: orders.csv\n", {
        "prompts/contact/1.0.0.prompt": CONTACT_PROMPT,
        "evals/orders.csv": 'id,text,quantity\nthree,"pens,\nblue",3\nwrong,ink,two\n',
    })
    result = run(pytester, "--prompt-record=once")
    result.assert_outcomes(passed=1, failed=1)
    assert [r.body["messages"][-1]["content"] for r in server.chat_requests] == ["pens,\nblue x6"]
    result.stdout.fnmatch_lines([
        "*::contact@1.0.0::wrong FAILED*",
        "*app/evals/orders.csv:4: contact@1.0.0: column 'quantity': 'two' is not an integer "
        "(the input 'quantity' is declared integer)*",
    ])


CHECKS = """\
def has_email(observation):
    return "@" in observation.output["email"], "no @ in the address"
"""


def test_a_python_check_is_found_from_the_project_root_and_not_run_on_a_failed_call(
    pytester: pytest.Pytester, server: FakeOpenAIServer
) -> None:
    """`checks:has_email` lives in the project root, which is neither the current folder nor
    on sys.path; a case whose call fails reports the failure instead of a TypeError from
    the check (`observation.output` is None)."""
    server.handler = contact_reply
    suite = ("prompt: contact\nassert:\n  - python: checks:has_email\n"
             "cases:\n  - {id: good, vars: {text: hello, quantity: 1}}\n"
             "  - {id: bad, vars: {text: bad, quantity: 1}}\n")
    make_project(pytester, server, suite, {"prompts/contact/1.0.0.prompt": CONTACT_PROMPT,
                                           "checks.py": CHECKS})
    recorded = run(pytester, "--prompt-record=once")
    recorded.assert_outcomes(passed=1, failed=1)
    recorded.stdout.fnmatch_lines(["*no @ in the address*"])

    (pytester.path / "app" / "evals" / "suite.yaml").write_text(
        suite.replace("hello", "hello again"), encoding="utf-8")  # `good` now misses offline
    replayed = run(pytester)
    replayed.assert_outcomes(failed=2)
    replayed.stdout.fnmatch_lines(["*checks:has_email not run: no output (ReplayMissError*"])
    replayed.stdout.no_fnmatch_line("*TypeError*")


IMAGE_PROMPT = """\
---
name: describe
version: 1.0.0
inputs:
  photo: image
---
user:
What is in this picture?
{{ photo }}
"""

PNG_A = b"\x89PNG\r\n\x1a\n" + b"A" * 64
PNG_B = b"\x89PNG\r\n\x1a\n" + b"B" * 64


def test_an_image_input_is_sent_as_a_data_url_and_recorded_by_its_hash(
    pytester: pytest.Pytester, server: FakeOpenAIServer
) -> None:
    """Paths are found beside the suite; the endpoint gets the image itself, the cassette
    only the hash of its bytes; a changed image is a replay miss, not a stale answer."""
    server.handler = lambda body, index: Reply(content="a cat")
    suite = ("prompt: describe\nassert:\n  - contains: {value: cat}\ncases:\n"
             "  - {id: a, vars: {photo: images/a.png}}\n"
             "  - {id: b, vars: {photo: images/b.png}}\n")
    root = make_project(pytester, server, suite, {"prompts/describe/1.0.0.prompt": IMAGE_PROMPT,
                                                  "evals/images/a.png": PNG_A,
                                                  "evals/images/b.png": PNG_B})
    run(pytester, "--prompt-record=once").assert_outcomes(passed=2)
    sent = [r.body["messages"][-1]["content"] for r in server.chat_requests]
    assert sorted(p[1]["image_url"]["url"] for p in sent) == sorted(
        f"data:image/png;base64,{base64.b64encode(png).decode()}"
        for png in (PNG_A, PNG_B))

    cassette = root / "fixtures" / "suite" / "describe@1.0.0" / "a.json"
    text = cassette.read_text(encoding="utf-8")
    (entry,) = json.loads(text)["entries"].values()
    part = entry["request"]["body"]["messages"][-1]["content"][1]
    assert part == {"type": "image_url", "image_url": {"url": {
        "image_sha256": f"sha256:{hashlib.sha256(PNG_A).hexdigest()}",
        "media_type": "image/png"}}}
    assert "base64," not in text

    server.stop()
    run(pytester).assert_outcomes(passed=2)
    (root / "evals" / "images" / "a.png").write_bytes(PNG_B)
    replayed = run(pytester)
    replayed.assert_outcomes(passed=1, failed=1)
    replayed.stdout.fnmatch_lines(["*::describe@1.0.0::a FAILED*", "*ReplayMissError*"])
