"""One meaning for every name: `NAME@LABEL`, `NAME@VERSION` and `NAME` resolve to the same
content in `run`, `render`, `show`, `gate`, `promote`, `pytest --prompt-version` and
`promptkit.get`, and a published file edited afterwards is the same error in each (the
table in docs/registry.md, one test per row)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from promptkit.cli import cli
from promptkit.config import load_settings
from promptkit.registry import Registry, Resolver
from promptkit.registry.references import FileDiffersError
from promptkit.templates import PromptLibrary
from promptkit.testing import FakeOpenAIServer, Reply

ENV_NAMES = ("PROMPTKIT_ROOT", "PROMPTKIT_PROMPTS_DIR", "PROMPTKIT_DB_URL",
             "PROMPTKIT_FIXTURES_DIR", "PROMPTKIT_EVALS_DIR")
PROMPT = """\
---
name: greet
version: {version}
model: default
inputs:
  who: string
---
user:
[v{version}] Say hello to {{{{ who }}}}.
"""
EDITED = "differs from greet@1.1.0 as published"
Runner = Callable[..., "tuple[int, str]"]


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(handler=lambda body, i: Reply(content="hello")) as fake:
        yield fake


@pytest.fixture
def project(tmp_path: Path, server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    """greet 1.0.0 and 1.1.0 published, production pinned to 1.1.0 (also the latest), and
    staging to 1.0.0."""
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    root = tmp_path / "refs"
    for version in ("1.0.0", "1.1.0"):
        path = root / "prompts" / "greet" / f"{version}.prompt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(PROMPT.format(version=version))
    (root / "evals").mkdir()
    (root / "evals" / "greet.yaml").write_text(
        "prompt: greet\ncases:\n  - id: ada\n    vars: {who: Ada}\n    assert:\n"
        "      - contains: {value: hello}\n")
    (root / "pyproject.toml").write_text(
        '[project]\nname = "refs"\n\n[tool.promptkit.models.default]\nmodel = "m"\n'
        f'base_url = "{server.base_url}"\napi_key_env = ""\n\n'
        '[tool.pytest.ini_options]\nasyncio_default_fixture_loop_scope = "function"\n')
    monkeypatch.chdir(root)
    cli_run(root, "publish")
    cli_run(root, "pin", "greet", "1.1.0", "--env", "production", "--reason", "first")
    cli_run(root, "pin", "greet", "1.0.0", "--env", "staging", "--reason", "first")
    return root


def cli_run(root: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--project", str(root), *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def edit(root: Path) -> None:
    path = root / "prompts" / "greet" / "1.1.0.prompt"
    path.write_text(path.read_text().replace("Say hello", "Say hi"))


def published_hash(root: Path, version: str) -> str:
    registry = Registry(load_settings(root).database_url)
    try:
        return registry.version("greet", version).content_hash
    finally:
        registry.close()


REFS = ("greet@production", "greet@1.1.0", "greet")  # all three name 1.1.0


@pytest.mark.parametrize("ref", REFS)
def test_run(project: Path, ref: str) -> None:
    code, out = cli_run(project, "run", ref, "--var", "who=Ada", "--json")
    assert code == 0, out
    assert json.loads(out)["content_hash"] == published_hash(project, "1.1.0")
    edit(project)
    code, out = cli_run(project, "run", ref, "--var", "who=Ada")
    assert code == 2 and EDITED in out


@pytest.mark.parametrize("ref", REFS)
def test_render(project: Path, ref: str) -> None:
    code, out = cli_run(project, "render", ref, "--var", "who=Ada")
    assert code == 0 and "[v1.1.0] Say hello to Ada." in out
    edit(project)
    code, out = cli_run(project, "render", ref, "--var", "who=Ada")
    assert code == 2 and EDITED in out


@pytest.mark.parametrize("ref", REFS)
def test_show(project: Path, ref: str) -> None:
    code, out = cli_run(project, "show", ref)
    assert code == 0 and out.startswith(f"# greet@1.1.0  {published_hash(project, '1.1.0')}")
    edit(project)
    code, out = cli_run(project, "show", ref)
    assert code == 2 and EDITED in out


@pytest.mark.parametrize("spec", ("production", "1.1.0", "latest"))
def test_gate(project: Path, spec: str) -> None:
    code, out = cli_run(project, "gate", "greet", "--candidate", spec, "--baseline", "staging",
                        "--record", "new", "--json")
    report = json.loads(out[out.index("{"):])
    assert code == 0 and report["candidate"]["content_hash"] == published_hash(project, "1.1.0")
    edit(project)
    code, out = cli_run(project, "gate", "greet", "--candidate", spec, "--baseline", "staging")
    assert code == 2 and EDITED in out


def test_promote(project: Path) -> None:
    code, out = cli_run(project, "gate", "greet", "--candidate", "1.1.0", "--baseline",
                        "staging", "--record", "new")
    assert code == 0, out
    edit(project)
    code, out = cli_run(project, "promote", "greet", "1.1.0", "--env", "staging")
    assert code == 2 and EDITED in out  # not "no passing gate", in a loop
    code, out = cli_run(project, "promote", "greet", "1.1.0", "--env", "staging", "--force",
                        "--reason", "incident: pin the published content as it is")
    assert code == 0, out


@pytest.mark.parametrize("spec", ("production", "1.1.0", "latest"))
def test_pytest_prompt_version(project: Path, pytester: pytest.Pytester, spec: str) -> None:
    for part in ("prompts", "evals", "pyproject.toml", ".promptkit"):
        (pytester.path / part).symlink_to(project / part)
    result = pytester.runpytest("evals", f"--prompt-version={spec}", "--prompt-record=new",
                                "-p", "no:cacheprovider", "-v")
    assert result.ret == 0
    assert [line.split()[0] for line in result.outlines if "PASSED" in line] == [
        "evals/greet.yaml::greet@1.1.0::ada"]
    edit(project)
    result = pytester.runpytest("evals", f"--prompt-version={spec}", "-p", "no:cacheprovider")
    assert result.ret != 0 and any(EDITED in line for line in result.outlines)


@pytest.mark.parametrize("ref", REFS)
def test_promptkit_get(project: Path, ref: str) -> None:
    settings = load_settings(project)

    def resolver() -> Resolver:
        return Resolver(Registry(settings.database_url, create=False),
                        library=PromptLibrary(settings.prompts_path), settings=settings)

    assert resolver().get(ref).prompt.content_hash == published_hash(project, "1.1.0")
    edit(project)
    with pytest.raises(FileDiffersError, match=re.escape(EDITED)):
        resolver().get(ref)


def test_a_version_no_suite_prompt_has_skips_those_suites_with_the_reason(
    project: Path, pytester: pytest.Pytester,
) -> None:
    for part in ("prompts", "evals", "pyproject.toml", ".promptkit"):
        (pytester.path / part).symlink_to(project / part)
    result = pytester.runpytest("evals", "--prompt-version=9.9.9", "-rs", "-p",
                                "no:cacheprovider")
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED
    assert any("greet has no version '9.9.9' (known: 1.0.0, 1.1.0)" in line
               for line in result.outlines if "SKIPPED" in line)
