"""The running server's record in `.promptkit/local.json`, and the model config it implies."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from promptkit.core.types import Capability, ModelConfig
from promptkit.errors import ConfigError
from promptkit.files import write_atomically

__all__ = [
    "CONFIG_NAME",
    "STATE_FILE",
    "ServerState",
    "read_state",
    "remove_state",
    "state_path",
    "write_state",
]

CONFIG_NAME = "local"
STATE_FILE = Path(".promptkit") / "local.json"
"""Relative to the project root."""


@dataclass(frozen=True)
class ServerState:
    """One started server: its process, where it listens, and what it serves."""

    pid: int
    port: int
    model: str
    model_path: str
    n_ctx: int
    capability: Capability
    log_path: str | None
    started_at: str
    command: tuple[str, ...] = ()
    """The server's argv, checked before a stop signals the pid (pids get reused)."""

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def config(self) -> ModelConfig:
        """The model config `local`: no key, free, JSON mode constrained by the schema
        (`json_object_schema`), the server's context size.

        Requests queue at the server, so an attempt may wait long (`timeout_s` 300). The
        server answers a request it cannot parse with HTTP 500, which retrying cannot fix,
        and it is never overloaded by anyone else, so this config is not retried
        (`max_retries` 0, overriding the project's retry policy): a 500 fails at once.
        """
        return ModelConfig(
            name=CONFIG_NAME,
            model=self.model,
            base_url=self.base_url,
            api_key_env="",
            capability=self.capability,
            price_in=0.0,
            price_out=0.0,
            context_window=self.n_ctx,
            timeout_s=300.0,
            max_retries=0,
        )

    def as_dict(self) -> dict[str, Any]:
        """The JSON stored in the state file, the model config included for other tools."""
        return {**asdict(self), "config": self.config.model_dump(mode="json")}


def state_path(root: Path) -> Path:
    """Where the state file of the project at `root` lives."""
    return root / STATE_FILE


def write_state(root: Path, state: ServerState) -> Path:
    """Write the state file atomically (a reader never sees half of it)."""
    path = state_path(root)
    write_atomically(path, json.dumps(state.as_dict(), indent=2) + "\n")
    return path


def read_state(root: Path) -> ServerState | None:
    """The recorded server, or None when there is no state file."""
    path = state_path(root)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except ValueError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc}); delete it and start again") from exc
    names = {f.name for f in fields(ServerState)}
    try:
        known = {k: v for k, v in data.items() if k in names}
        return ServerState(**{**known, "command": tuple(known.get("command", ()))})
    except TypeError as exc:
        raise ConfigError(f"{path}: not a local server record ({exc})") from exc


def remove_state(root: Path) -> None:
    """Forget the recorded server (no error when there is none)."""
    state_path(root).unlink(missing_ok=True)
