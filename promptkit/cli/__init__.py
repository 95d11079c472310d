"""The `promptkit` command line: a thin adapter over the library (no logic of its own).

Each command lives in a module of this package that is imported when the command runs
(see `COMMAND_MODULES`).
"""

from __future__ import annotations

from promptkit.cli.app import cli, main

__all__ = ["cli", "main"]
