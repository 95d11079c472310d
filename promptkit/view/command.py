"""The `promptkit view` command (loaded by the CLI's command table on demand; it reads the
project from the CLI's context without importing the CLI)."""

from __future__ import annotations

import click

from promptkit.config import load_settings

__all__ = ["command"]


@click.command("view")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; anything but loopback needs --token.")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True)
@click.option("--token", envvar="PROMPTKIT_VIEW_TOKEN", default=None,
              help="Every request must carry it (?token= once, then a cookie) "
                   "[env: PROMPTKIT_VIEW_TOKEN].")
@click.option("--actor", envvar="PROMPTKIT_ACTOR", default=None,
              help="Who pins, rolls back, approves and reviews [default: PROMPTKIT_ACTOR, "
                   "else user@host].")
@click.option("--open/--no-open", "open_browser", default=False, show_default=True,
              help="Open a browser on the page.")
@click.pass_context
def command(ctx: click.Context, host: str, port: int, token: str | None, actor: str | None,
            open_browser: bool) -> None:
    """A local web app over the project's database: prompts and diffs, environments (pins,
    ledger, rollback, promote, approvals), eval runs, gates, the call log, charts, and
    human review."""
    from promptkit.view.serve import serve

    settings = load_settings(getattr(ctx.find_root().obj, "root", None))
    serve(settings, host=host, port=port, token=token, actor=actor, open_browser=open_browser)
