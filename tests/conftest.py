"""Fixtures shared by every test folder."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the example project (prompts/ and a pyproject.toml) in a temporary folder,
    made the working directory."""
    shutil.copytree(REPO / "prompts", tmp_path / "prompts")
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "demo"\n\n[tool.promptkit.models.default]\nmodel = "gpt-4o-mini"\n',
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    for name in ("PROMPTKIT_ROOT", "PROMPTKIT_PROMPTS_DIR", "PROMPTKIT_DB_URL"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


@pytest.fixture
def repo_root() -> Path:
    """The promptkit repository itself (its example prompts, evals and fixtures)."""
    return REPO


@pytest.fixture
def write_prompt() -> Callable[[Path, str, str, str], Path]:
    """A function writing `prompts/<name>/<version>.prompt` under a root folder."""

    def write(root: Path, name: str, version: str, text: str) -> Path:
        path = root / "prompts" / name / f"{version}.prompt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    return write
