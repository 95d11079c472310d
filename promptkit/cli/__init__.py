"""The `promptkit` command line: a thin adapter over the library (no logic of its own)."""

from __future__ import annotations

from promptkit.cli import lint_cmd, local_cmd, prompts, registry_cmd  # noqa: F401  (importing registers the commands)
from promptkit.cli.app import cli, main

__all__ = ["cli", "main"]
