"""A real small chat model on this machine: SmolLM2-135M-Instruct behind llama-cpp-python's
OpenAI-compatible server, started and stopped per project (`promptkit local serve|stop`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from promptkit.lazy import lazy_attributes

if TYPE_CHECKING:
    from promptkit.errors import LocalExtraMissingError, LocalServerError
    from promptkit.local.model import find_model_file, require_installed
    from promptkit.local.server import (
        DEFAULT_N_CTX,
        DEFAULT_PORT,
        launch,
        running_config,
        serve_foreground,
        start,
        status,
        stop,
    )
    from promptkit.local.state import CONFIG_NAME, ServerState, read_state

__all__ = [
    "CONFIG_NAME",
    "DEFAULT_N_CTX",
    "DEFAULT_PORT",
    "LocalExtraMissingError",
    "LocalServerError",
    "ServerState",
    "find_model_file",
    "launch",
    "read_state",
    "require_installed",
    "running_config",
    "serve_foreground",
    "start",
    "status",
    "stop",
]


if not TYPE_CHECKING:  # type checkers see the imports above: a typo is an error
    __getattr__ = lazy_attributes(__name__)
