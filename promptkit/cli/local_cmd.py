"""`promptkit local serve|stop|status`: the real small model on this machine, as model `local`."""

from __future__ import annotations

import json
import time

import click

from promptkit.cli.app import EXIT_FAILURE, Project, cli, pass_project
from promptkit.core.types import ModelConfig
from promptkit.errors import ConfigError, NotPublishedError, RegistryError
from promptkit.local import server
from promptkit.local.state import ServerState, state_path
from promptkit.registry import Registry


@cli.group("local")
def local_group() -> None:
    """A real small chat model (SmolLM2-135M-Instruct) served on 127.0.0.1 as model `local`."""


@local_group.command("serve")
@click.option("--port", type=int, default=server.DEFAULT_PORT, show_default=True,
              help="Port on 127.0.0.1 (0: any free port).")
@click.option("--foreground", is_flag=True, help="Stay attached; Ctrl-C stops the server.")
@click.option("--n-ctx", type=int, default=server.DEFAULT_N_CTX, show_default=True,
              help="Context window in tokens.")
@click.option("--threads", "n_threads", type=int, default=None,
              help="Generation threads (default: half the CPUs).")
@click.option("--timeout", "timeout_s", type=float, default=server.DEFAULT_START_TIMEOUT_S,
              show_default=True, help="Seconds to wait for the server to answer.")
@pass_project
def serve_command(project: Project, port: int, foreground: bool, n_ctx: int,
                  n_threads: int | None, timeout_s: float) -> None:
    """Start the server and register the model config `local` (idempotent)."""
    root = project.settings.root
    began = time.monotonic()
    if foreground:
        code = server.serve_foreground(
            root, port=port, n_ctx=n_ctx, n_threads=n_threads, timeout_s=timeout_s,
            on_ready=lambda state: _ready(project, state, time.monotonic() - began),
        )
        raise SystemExit(code)
    running = server.status(root)
    state = server.start(root, port=port, n_ctx=n_ctx, n_threads=n_threads, timeout_s=timeout_s)
    _ready(project, state, None if running else time.monotonic() - began)


def _ready(project: Project, state: ServerState, seconds: float | None) -> None:
    how = f"ready in {seconds:.1f} s" if seconds is not None else f"up since {state.started_at}"
    click.echo(f"local model {state.model} at {state.base_url} (pid {state.pid}, {how})")
    project.info(_register(project, state.config))
    project.info(f"state: {state_path(project.settings.root)}; stop with `promptkit local stop`")


def _register(project: Project, config: ModelConfig) -> str:
    """Store `local` in the registry unless it already says the same; one line of outcome."""
    registry = Registry(project.settings.database_url)
    try:
        try:
            if registry.config(config.name) == config:
                return f"model config {config.name!r} is registered"
        except NotPublishedError:
            pass
        change = registry.set_config(config.name, reason="promptkit local serve",
                                     **config.model_dump(exclude={"name"}))
        return f"model config {config.name!r} registered (revision {change.revision})"
    except (ConfigError, RegistryError) as exc:
        return (f"warning: model config {config.name!r} not stored in the registry ({exc}); "
                f"it is in {state_path(project.settings.root)}")
    finally:
        registry.close()


@local_group.command("stop")
@pass_project
def stop_command(project: Project) -> None:
    """Stop the server this project started (nothing to do is not an error)."""
    state = server.stop(project.settings.root)
    if state is None:
        click.echo("no local server is running for this project", err=True)
        return
    click.echo(f"stopped the local server on port {state.port} (pid {state.pid})")


@local_group.command("status")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_project
def status_command(project: Project, as_json: bool) -> None:
    """Whether the server runs, where, and its model config (exit 1 when it does not run)."""
    state = server.status(project.settings.root)
    if as_json:
        click.echo(json.dumps({"running": state is not None,
                               **(state.as_dict() if state else {})}, indent=2))
    elif state is not None:
        click.echo(f"running: {state.model} at {state.base_url} (pid {state.pid}, since "
                   f"{state.started_at}, n_ctx {state.n_ctx}, capability {state.capability})")
    else:
        click.echo("not running (start it with `promptkit local serve`)")
    if state is None:
        raise SystemExit(EXIT_FAILURE)
