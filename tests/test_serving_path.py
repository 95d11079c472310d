"""The serving path weighs nothing it does not need: `import promptkit; promptkit.get(...)`,
rendering the resolved prompt and a `Client` call load no pytest, pandas, numpy or git, and work on a host with
no `git` binary (fresh interpreters, as an application starts)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from promptkit.testing.fake_server import FakeOpenAIServer
from promptkit.testing.replies import Reply

HEAVY = ("pytest", "_pytest", "pandas", "numpy", "git", "gitdb")
# Reaching a name (before any call) loads none of the libraries a call needs either.
NOT_YET = (*HEAVY, "sqlalchemy", "pydantic", "jinja2", "openai", "jsonschema")

SETUP = """
import os, sys
os.chdir(sys.argv[1])
import promptkit
from promptkit.registry import Registry
registry = Registry.from_settings()
registry.publish_library(promptkit.PromptLibrary("prompts"), ["sentiment"])
registry.pin("sentiment", "1.2.0", env="production", reason="first")
"""

SERVE = """
import json, os, sys
os.chdir(sys.argv[1])
import promptkit
resolved = promptkit.get("sentiment", env="production")
messages = resolved.render(text="I love it")
config = promptkit.ModelConfig(name="default", model="m", base_url=sys.argv[3], api_key_env="")
with promptkit.Client({"default": config}) as client:
    client.call_prompt(resolved.prompt, {"text": "I love it"})
loaded = sorted({m.split(".")[0] for m in sys.modules} & set(json.loads(sys.argv[2])))
print(json.dumps({"version": resolved.version, "roles": [m["role"] for m in messages],
                  "heavy": loaded}))
"""


def _python(code: str, *args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          env=env, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_get_render_and_a_call_load_no_pytest_pandas_numpy_or_git_even_without_git(
    tmp_path: Path, repo_root: Path,
) -> None:
    shutil.copytree(repo_root / "prompts", tmp_path / "prompts")
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "app"\n')
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PROMPTKIT_")}
    _python(SETUP, str(tmp_path), env=clean)
    no_git = {**clean, "PATH": str(tmp_path / "empty-bin")}  # no git on PATH at all
    assert shutil.which("git", path=no_git["PATH"]) is None
    answer = Reply(content={"sentiment": "positive", "confidence": 0.9, "reasoning": "."})
    with FakeOpenAIServer(default=answer) as server:
        out = json.loads(_python(SERVE, str(tmp_path), json.dumps(HEAVY), server.base_url,
                                 env=no_git))
    assert out == {"version": "1.2.0", "roles": ["system", "user", "assistant", "user"],
                   "heavy": []}  # 1.2.0 has a few-shot example


def test_importing_promptkit_and_reaching_get_imports_none_of_them() -> None:
    """`promptkit.get` is reached without SQLAlchemy, pydantic, Jinja or the SDK: they load
    when the registry is first queried (no timing is asserted: figures are benchmarks')."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-c",
                           "import promptkit; promptkit.get; promptkit.registry.get"],
                          capture_output=True, text=True, timeout=120, check=True)
    imported = {line.rsplit("|", 1)[-1].strip().split(".")[0]
                for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert imported.isdisjoint(NOT_YET), sorted(imported & set(NOT_YET))
