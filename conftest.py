"""Root conftest: plugins every test folder may use, and a header saying how the run is set up."""

from __future__ import annotations

import os

import pytest

pytest_plugins = ["pytester"]


def pytest_report_header(config: pytest.Config) -> str:
    mode = "CI (database tests must run)" if os.environ.get("CI") == "true" else "local"
    return f"promptkit: {mode}"
