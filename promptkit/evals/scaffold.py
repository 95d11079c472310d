"""`promptkit init`: a new project that works at once. Settings in `pyproject.toml` (a
`default` model config), a first prompt, a suite for it, and its recording, so that
`pytest evals` passes offline before any key is set.

The recording is made against promptkit's own scripted OpenAI-compatible server on
127.0.0.1 (`promptkit.testing`), answering as the suite expects; replace it with a real
model's answers with `pytest evals --prompt-record=all` once a key is set.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from promptkit.config import load_settings
from promptkit.errors import UsageError

__all__ = ["Scaffold", "init_project"]

SETTINGS = """
[tool.promptkit]
default_model = "default"

# A model config for a fresh checkout; `promptkit config set NAME ...` stores configs in
# the registry, which win. The key is read from the named environment variable.
[tool.promptkit.models.default]
model = "gpt-4o-mini"
api_key_env = "OPENAI_API_KEY"
capability = "json_schema"
"""

PROMPT = """\
---
name: greet
version: 1.0.0
description: Greet a person by name, in JSON.
model: default
inputs:
  who: {type: string, minLength: 1}
output:
  mode: json_schema
  schema:
    type: object
    additionalProperties: false
    required: [greeting]
    properties:
      greeting: {type: string}
---
system:
Greet the person warmly, in one short sentence, as JSON.

user:
{{ who }}
"""

SUITE = """\
prompt: greet
assert:
  - schema
cases:
  - id: ada
    vars: {who: Ada}
    assert:
      - contains: {value: Ada, path: greeting}
"""


@dataclass
class Scaffold:
    """What `init_project` wrote (and what it left alone because it was there)."""

    root: Path
    written: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)


def init_project(root: Path) -> Scaffold:
    """Write the project's files (never overwriting one) and record the example suite."""
    done = Scaffold(root)
    _settings(root / "pyproject.toml", done)
    _file(root / "prompts" / "greet" / "1.0.0.prompt", PROMPT, done)
    _file(root / "evals" / "greet.yaml", SUITE, done)
    _ignore(root / ".gitignore", done)
    if not (root / "fixtures" / "greet").exists():
        _record(root)
        done.written.append(root / "fixtures" / "greet")
    return done


def _settings(path: Path, done: Scaffold) -> None:
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    if "[tool.promptkit" in text:
        done.kept.append(path)
        return
    head = "" if text else f'[project]\nname = "{path.parent.resolve().name}"\nversion = "0.1.0"\n'
    path.write_text(text + head + SETTINGS, encoding="utf-8")
    done.written.append(path)


def _ignore(path: Path, done: Scaffold) -> None:
    """The local database and call log stay out of git; recordings go in."""
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    if ".promptkit/" in text.split():
        return
    path.write_text(text + ("" if not text or text.endswith("\n") else "\n") + ".promptkit/\n",
                    encoding="utf-8")
    done.written.append(path)


def _file(path: Path, text: str, done: Scaffold) -> None:
    if path.exists():
        done.kept.append(path)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    done.written.append(path)


def _record(root: Path) -> None:
    """Record the example suite from the scripted server (the key is a placeholder: the
    scrubber keeps it out of the recording anyway)."""
    from promptkit.evals.session import EvalOptions, EvalSession
    from promptkit.evals.suite import load_suite
    from promptkit.replay import RecordMode
    from promptkit.testing.fake_server import FakeOpenAIServer
    from promptkit.testing.replies import Reply

    def greet(body: dict[str, Any], index: int) -> Reply:
        who = body["messages"][-1]["content"].strip()
        return Reply(content={"greeting": f"Hello, {who}! Lovely to meet you."})

    settings = load_settings(root)
    with FakeOpenAIServer(handler=greet) as server:
        local = {**settings.models["default"], "base_url": server.base_url, "api_key_env": ""}
        settings = replace(settings, models={"default": local})
        session = EvalSession(settings, EvalOptions(record=RecordMode.ONCE))
        try:
            items = session.items(load_suite(root / "evals" / "greet.yaml"))
            results = session.run(items)
        finally:
            session.finish()
    failed = [r.item_id for r in results if not r.passed]
    if failed:
        raise UsageError(f"the example suite did not pass while recording: {failed}")
