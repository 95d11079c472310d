"""Start, stop and inspect the local model server of a project (`python -m llama_cpp.server`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from promptkit.core.types import Capability, ModelConfig
from promptkit.errors import LocalServerError, UsageError
from promptkit.local.model import MODEL_ALIAS, find_model_file, require_installed
from promptkit.local.process import (
    free_port,
    is_alive,
    port_in_use,
    runs_command,
    spawn,
    terminate,
    wait_ready,
)
from promptkit.local.state import ServerState, read_state, remove_state, write_state

__all__ = [
    "CAPABILITY",
    "DEFAULT_N_CTX",
    "DEFAULT_PORT",
    "DEFAULT_START_TIMEOUT_S",
    "LOG_FILE",
    "launch",
    "running_config",
    "serve_foreground",
    "server_argv",
    "start",
    "status",
    "stop",
]

DEFAULT_PORT = 8765
DEFAULT_N_CTX = 8192
"""SmolLM2's training context; the KV cache it needs is under 200 MB for the 135M model."""
DEFAULT_START_TIMEOUT_S = 120.0
CAPABILITY: Capability = "json_object_schema"
"""What the server supports: `response_format: json_object` with a `schema`, which it
enforces by a grammar (`json_schema` gets HTTP 500)."""
LOG_FILE = Path(".promptkit") / "local-server.log"


def server_argv(
    model_path: Path, *, port: int, n_ctx: int = DEFAULT_N_CTX, n_threads: int | None = None
) -> list[str]:
    """The command line of the server (`llama_cpp.server` through `_llama_main`, which has
    it evaluate every prompt afresh) serving the model on 127.0.0.1.

    Generation uses half the CPUs (llama.cpp's advice; on a busy 2-core machine a second
    spinning thread made generation 2-5x slower), prompt processing all of them. The
    GGUF's own chat template (ChatML) is named rather than guessed; logits are kept for
    the last token only (promptkit asks for no logprobs). Requests queue one at a time;
    `--interrupt_requests false` keeps the server from cutting a stream short (with a
    plain [DONE]) whenever another request is waiting.
    """
    cpus = os.cpu_count() or 1
    threads = n_threads or max(cpus // 2, 1)
    return [
        sys.executable, "-m", "promptkit.local._llama_main",
        "--model", str(model_path), "--model_alias", MODEL_ALIAS,
        "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(n_ctx),
        "--n_threads", str(threads), "--n_threads_batch", str(max(threads, cpus)),
        "--chat_format", "chat_template.default", "--logits_all", "false",
        "--interrupt_requests", "false",
    ]


def start(
    root: Path,
    *,
    port: int = DEFAULT_PORT,
    n_ctx: int = DEFAULT_N_CTX,
    n_threads: int | None = None,
    timeout_s: float = DEFAULT_START_TIMEOUT_S,
) -> ServerState:
    """Start the server in the background (port 0: any free port) and record it.

    A server already recorded for `root` and alive is returned as it is.
    """
    running = _already_running(root, port)
    if running is not None:
        return running
    argv, port, model_path = _command(port, n_ctx, n_threads)
    return launch(root, argv, port=port, model_path=model_path, n_ctx=n_ctx, timeout_s=timeout_s)


def _command(port: int, n_ctx: int, n_threads: int | None) -> tuple[list[str], int, Path]:
    require_installed()
    model_path = find_model_file()
    port = port or free_port()
    return server_argv(model_path, port=port, n_ctx=n_ctx, n_threads=n_threads), port, model_path


def launch(
    root: Path,
    argv: Sequence[str],
    *,
    port: int,
    model_path: Path,
    n_ctx: int,
    timeout_s: float = DEFAULT_START_TIMEOUT_S,
) -> ServerState:
    """Run `argv` (any OpenAI-compatible server on `port`), wait for /v1/models, record it."""
    state, _ = _launch(root, argv, port=port, model_path=model_path, n_ctx=n_ctx,
                       timeout_s=timeout_s, log_path=root / LOG_FILE)
    return state


def _already_running(root: Path, port: int) -> ServerState | None:
    running = status(root)
    if running is None or port in (0, running.port):
        return running
    raise _running_error(running)


def _running_error(running: ServerState) -> UsageError:
    return UsageError(
        f"the local server already runs on port {running.port} (pid {running.pid}); "
        "stop it first with `promptkit local stop`"
    )


def _launch(
    root: Path,
    argv: Sequence[str],
    *,
    port: int,
    model_path: Path,
    n_ctx: int,
    timeout_s: float,
    log_path: Path | None,
) -> tuple[ServerState, subprocess.Popen[bytes]]:
    if port_in_use(port):
        raise LocalServerError(
            f"port {port} on 127.0.0.1 is already in use by another program; choose another "
            "with --port"
        )
    process = spawn(argv, log_path=log_path)
    url = f"http://127.0.0.1:{port}/v1/models"
    models = wait_ready(process, url, timeout_s=timeout_s, log_path=log_path)
    state = ServerState(
        pid=process.pid, port=port, model=_model_id(models), model_path=str(model_path),
        n_ctx=n_ctx, capability=CAPABILITY, log_path=str(log_path) if log_path else None,
        started_at=datetime.now(UTC).isoformat(timespec="seconds"), command=tuple(argv),
    )
    write_state(root, state)
    return state, process


def _model_id(models: object) -> str:
    try:
        return str(models["data"][0]["id"])  # type: ignore[index]
    except (KeyError, IndexError, TypeError):
        return MODEL_ALIAS


def status(root: Path) -> ServerState | None:
    """The server recorded for `root` if it still runs (a stale record is removed)."""
    state = read_state(root)
    if state is None:
        return None
    if is_alive(state.pid) and runs_command(state.pid, state.command):
        return state
    remove_state(root)
    return None


def stop(root: Path) -> ServerState | None:
    """Stop the recorded server and its process group; the state it had, or None."""
    state = status(root)
    if state is None:
        return None
    terminate(state.pid)
    remove_state(root)
    return state


def running_config(root: Path) -> ModelConfig | None:
    """The model config `local` of the server running for `root`, or None."""
    state = status(root)
    return state.config if state is not None else None


def serve_foreground(
    root: Path,
    *,
    port: int = DEFAULT_PORT,
    n_ctx: int = DEFAULT_N_CTX,
    n_threads: int | None = None,
    timeout_s: float = DEFAULT_START_TIMEOUT_S,
    on_ready: Callable[[ServerState], None] = lambda state: None,
) -> int:
    """Run the server attached to this terminal until it exits, Ctrl-C or SIGTERM; its exit
    code. The server and the state file go with it."""
    running = status(root)
    if running is not None:
        raise _running_error(running)
    argv, port, model_path = _command(port, n_ctx, n_threads)
    state, process = _launch(root, argv, port=port, model_path=model_path, n_ctx=n_ctx,
                             timeout_s=timeout_s, log_path=None)
    try:
        with _sigterm_as_interrupt():
            on_ready(state)
            return process.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        terminate(process.pid)
        remove_state(root)


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM ends the foreground server the way Ctrl-C does (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
