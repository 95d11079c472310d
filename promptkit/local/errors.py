"""The errors of the local model server (they hang in promptkit.errors' tree as drawn here).

    PromptkitError
    ├── ConfigError
    │   └── LocalExtraMissingError  the [local] extra or the model package is not installed
    └── LocalServerError            the server did not start: .log_tail, .returncode
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from promptkit.errors import ConfigError, PromptkitError

__all__ = ["LocalExtraMissingError", "LocalServerError"]


class LocalExtraMissingError(ConfigError):
    """What the local server needs is not installed; `.command` installs it."""

    def __init__(self, missing: Sequence[str], command: str) -> None:
        self.missing = list(missing)
        self.command = command
        super().__init__(
            f"the local model server needs {' and '.join(self.missing)}, which "
            f"{'is' if len(self.missing) == 1 else 'are'} not installed; install with:\n"
            f"    {command}"
        )


class LocalServerError(PromptkitError):
    """The local server exited or did not answer in time; carries the end of its log."""

    def __init__(
        self,
        message: str,
        *,
        log_path: Path | None = None,
        log_tail: str = "",
        returncode: int | None = None,
    ) -> None:
        self.log_path = log_path
        self.log_tail = log_tail
        self.returncode = returncode
        where = f"\nlast lines of {log_path}:\n{log_tail}" if log_tail else ""
        super().__init__(f"{message}{where}")
