"""Settings: defaults < [tool.promptkit] in pyproject.toml < PROMPTKIT_* variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from promptkit.config import find_project_root, load_settings
from promptkit.errors import ConfigError


def test_defaults_put_the_registry_beside_the_project(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[project]\nname='x'\n")
    settings = load_settings(tmp_path, environ={})
    assert settings.prompts_path == tmp_path / "prompts"
    assert settings.database_url == f"sqlite:///{tmp_path}/.promptkit/promptkit.db"


def test_pyproject_then_environment(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.promptkit]\nprompts_dir = "p"\ndb_url = "sqlite:///a.db"\n'
        '[tool.promptkit.models.fast]\nmodel = "m-1"\n'
    )
    settings = load_settings(tmp_path, environ={"PROMPTKIT_DB_URL": "sqlite:///b.db"})
    assert settings.prompts_path == tmp_path / "p"
    assert settings.database_url == "sqlite:///b.db"
    assert settings.models == {"fast": {"model": "m-1"}}


def test_unknown_setting_names_the_file_and_the_allowed_keys(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.promptkit]\nprompt_dir = "p"\n')
    with pytest.raises(ConfigError, match=r"unknown key\(s\) prompt_dir; allowed: .*prompts_dir"):
        load_settings(tmp_path, environ={})


def test_project_root_is_found_from_a_subfolder(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("")
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    assert find_project_root(deep) == tmp_path


def test_registry_deadlines_are_read_as_seconds_and_refused_when_not(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        "[tool.promptkit]\nregistry_wait_s = 0.02\nregistry_timeout_s = 5\n")
    settings = load_settings(tmp_path, environ={})
    assert (settings.seconds("registry_wait_s"), settings.seconds("registry_timeout_s")) == (
        0.02, 5.0)
    for bad in ("soon", "0", "-1", "inf"):
        wrong = load_settings(tmp_path, environ={"PROMPTKIT_REGISTRY_WAIT_S": bad})
        with pytest.raises(ConfigError) as error:
            wrong.seconds("registry_wait_s")
        assert str(error.value) == (
            f"setting registry_wait_s (PROMPTKIT_REGISTRY_WAIT_S or [tool.promptkit] "
            f"registry_wait_s) is {bad!r}: expected a number of seconds above 0")


def test_retry_settings_come_from_pyproject_then_the_environment(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        "[tool.promptkit.retry]\nmax_attempts = 4\nbackoff_base_s = 0.5\nbackoff_cap_s = 2\n")
    settings = load_settings(tmp_path, environ={"PROMPTKIT_RETRY_MAX_ATTEMPTS": "7",
                                                "PROMPTKIT_RETRY_BACKOFF_FACTOR": "3"})
    assert settings.retry == {"max_attempts": 7, "backoff_base_s": 0.5, "backoff_cap_s": 2.0,
                              "backoff_factor": 3.0}


@pytest.mark.parametrize(("table", "message"), [
    ("max_attempt = 3", r"\[tool.promptkit.retry\] has unknown key\(s\) max_attempt; "
                        r"allowed: max_attempts, backoff_base_s"),
    ("max_attempts = 2.5", r"\[tool.promptkit.retry\] max_attempts = 2.5: expected an integer "
                           r"of at least 1"),
    ("max_attempts = true", r"max_attempts = True: expected an integer of at least 1"),
    ("backoff_factor = 0.5", r"backoff_factor = 0.5: expected a number of at least 1"),
    ('backoff_cap_s = "soon"', r"backoff_cap_s = 'soon': expected a number of seconds, 0 or more"),
    ("backoff_base_s = -1", r"backoff_base_s = -1: expected a number of seconds, 0 or more"),
])
def test_a_bad_retry_setting_is_one_line_naming_the_file_and_key(
    tmp_path: Path, table: str, message: str
) -> None:
    (tmp_path / "pyproject.toml").write_text(f"[tool.promptkit.retry]\n{table}\n")
    with pytest.raises(ConfigError, match=message) as caught:
        load_settings(tmp_path, environ={})
    assert str(caught.value).startswith(str(tmp_path / "pyproject.toml"))
    assert "\n" not in str(caught.value)


def test_a_bad_retry_variable_names_the_variable(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("")
    with pytest.raises(ConfigError, match=r"^PROMPTKIT_RETRY_MAX_ATTEMPTS='many': expected an "
                                          r"integer of at least 1$"):
        load_settings(tmp_path, environ={"PROMPTKIT_RETRY_MAX_ATTEMPTS": "many"})
