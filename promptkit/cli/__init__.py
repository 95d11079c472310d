"""The `promptkit` command line: a thin adapter over the library (no logic of its own)."""

from __future__ import annotations

from promptkit.cli import (  # noqa: F401  (importing a module registers its commands)
    gate_cmd,
    lint_cmd,
    local_cmd,
    logs_cmd,
    prompts,
    registry_cmd,
    run_cmd,
)
from promptkit.cli.app import cli, main

__all__ = ["cli", "main"]
