"""The front door: `promptkit init` makes a project whose `pytest evals` passes offline at
once, and `promptkit new NAME` writes the first version of a prompt that has none."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from promptkit.cli import cli


def run(root: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--project", str(root), *args])
    return result.exit_code, result.output


def test_init_then_pytest_evals_passes_offline(pytester: pytest.Pytester,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    for name in ("PROMPTKIT_ROOT", "PROMPTKIT_DB_URL", "PROMPTKIT_FIXTURES_DIR"):
        monkeypatch.delenv(name, raising=False)
    root = pytester.path
    code, out = run(root, "init")
    assert code == 0, out
    for part in ("pyproject.toml", "prompts/greet/1.0.0.prompt", "evals/greet.yaml",
                 "fixtures/greet", ".gitignore"):
        assert (root / part).exists(), part
    assert "[tool.promptkit.models.default]" in (root / "pyproject.toml").read_text()
    assert ".promptkit/" in (root / ".gitignore").read_text()
    result = pytester.runpytest_subprocess(  # a user's own run: no key, no network, no warning
        "evals", "-p", "no:cacheprovider", "-p", "no:asyncio", "-W", "error")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*0 calls recorded, 1 replayed*"])
    assert run(root, "lint")[0] == 0
    code, out = run(root, "init")  # again: nothing is overwritten
    assert code == 0 and "created" not in out and "kept    prompts/greet/1.0.0.prompt" in out


def test_init_adds_its_settings_to_an_existing_pyproject(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "mine"\n')
    assert run(tmp_path, "init")[0] == 0
    text = (tmp_path / "pyproject.toml").read_text()
    assert text.startswith('[project]\nname = "mine"\n') and "[tool.promptkit]" in text


def test_new_writes_the_first_version_of_a_new_prompt(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    code, out = run(tmp_path, "new", "summarize")
    assert code == 0 and "created" in out
    assert (tmp_path / "prompts/summarize/1.0.0.prompt").is_file()
    assert run(tmp_path, "lint")[0] == 0
    code, out = run(tmp_path, "render", "summarize", "--var", "text=hi")
    assert code == 0 and '"content": "hi"' in out
    code, _ = run(tmp_path, "new", "summarize")  # now it copies the latest to 1.1.0
    assert code == 0 and (tmp_path / "prompts/summarize/1.1.0.prompt").is_file()
    code, out = run(tmp_path, "new", "Bad Name")
    assert code == 2 and "is not a prompt name" in out
