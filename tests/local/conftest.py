"""Helpers of the local-model tests: a stand-in server per test. (The real server for the
session is the `local_model` fixture the promptkit plugin provides; its marker is declared
in pyproject.toml.)"""

from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["FAKE_SERVER", "fake_argv"]

FAKE_SERVER = Path(__file__).with_name("fake_llama_server.py")


def fake_argv(port: int, mode: str = "ok", *extra: str) -> list[str]:
    """The command line of the stand-in server (see fake_llama_server.py for the modes)."""
    return [sys.executable, str(FAKE_SERVER), str(port), mode, *extra]
