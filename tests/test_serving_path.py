"""The serving path weighs nothing it does not need: `import promptkit; promptkit.get(...)`
and rendering the resolved prompt load no pytest, pandas or git, and work on a host with
no `git` binary (fresh interpreters, as an application starts)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

HEAVY = ("pytest", "_pytest", "pandas", "git", "gitdb")

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
loaded = sorted({m.split(".")[0] for m in sys.modules} & set(json.loads(sys.argv[2])))
print(json.dumps({"version": resolved.version, "roles": [m["role"] for m in messages],
                  "heavy": loaded}))
"""


def _python(code: str, *args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          env=env, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_get_and_render_load_no_pytest_pandas_or_git_even_without_a_git_binary(
    tmp_path: Path, repo_root: Path,
) -> None:
    shutil.copytree(repo_root / "prompts", tmp_path / "prompts")
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "app"\n')
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PROMPTKIT_")}
    _python(SETUP, str(tmp_path), env=clean)
    no_git = {**clean, "PATH": str(tmp_path / "empty-bin")}  # no git on PATH at all
    assert shutil.which("git", path=no_git["PATH"]) is None
    out = json.loads(_python(SERVE, str(tmp_path), json.dumps(HEAVY), env=no_git))
    assert out == {"version": "1.2.0", "roles": ["system", "user", "assistant", "user"],
                   "heavy": []}  # 1.2.0 has a few-shot example


def test_importing_promptkit_and_reaching_get_imports_none_of_them() -> None:
    done = subprocess.run([sys.executable, "-X", "importtime", "-c",
                           "import promptkit; promptkit.get"], capture_output=True, text=True,
                          timeout=120, check=True)
    imported = {line.rsplit("|", 1)[-1].strip().split(".")[0]
                for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert imported.isdisjoint(HEAVY), sorted(imported & set(HEAVY))
