"""Fixtures of the local-model tests: the real server for the session, a fake one per test."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from promptkit.local.fixtures import local_model

__all__ = ["FAKE_SERVER", "fake_argv", "local_model"]

FAKE_SERVER = Path(__file__).with_name("fake_llama_server.py")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "local_model: needs the real local model server of the [local] extra (skipped with a "
        "reason when absent, required when CI=true)",
    )


def fake_argv(port: int, mode: str = "ok", *extra: str) -> list[str]:
    """The command line of the stand-in server (see fake_llama_server.py for the modes)."""
    return [sys.executable, str(FAKE_SERVER), str(port), mode, *extra]
