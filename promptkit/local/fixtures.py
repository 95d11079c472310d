"""The pytest fixture `local_model`: the real local model server for one test session.

Use it from a conftest.py with `from promptkit.local.fixtures import local_model`. It
skips the tests that use it when the `[local]` extra is not installed, except under
`CI=true`, where a missing extra fails them: CI must not pass by skipping.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, NoReturn

import pytest

from promptkit.errors import LocalExtraMissingError

if TYPE_CHECKING:
    from promptkit.core.types import ModelConfig

__all__ = ["local_extra", "local_model"]


@pytest.fixture(scope="session")
def local_extra() -> None:
    """For tests that start the local model their own way: skip them (fail under CI=true)
    when the `[local]` extra or its model is missing."""
    from promptkit.local.model import find_model_file, require_installed

    try:
        require_installed()
        find_model_file()
    except LocalExtraMissingError as exc:
        _missing(exc)


@pytest.fixture(scope="session")
def local_model(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModelConfig]:
    """The model config `local` of a server started on a free port; stopped at session end."""
    from promptkit.local.server import start, stop  # on use: the pytest plugin loads this file

    root = tmp_path_factory.mktemp("promptkit-local")
    try:
        state = start(root, port=0)
    except LocalExtraMissingError as exc:
        _missing(exc)
    try:
        yield state.config
    finally:
        stop(root)


def _missing(exc: LocalExtraMissingError) -> NoReturn:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and the local model cannot run: {exc}", pytrace=False)
    pytest.skip(f"local model not installed: {exc}")
