"""The root command group: project settings, error reporting, and exit codes."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import click

from promptkit.config import Settings, load_settings
from promptkit.errors import ModelCallError, PromptkitError
from promptkit.templates.library import PromptLibrary

__all__ = ["EXIT_FAILURE", "EXIT_OK", "EXIT_USAGE", "Project", "cli", "main", "pass_project"]

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


@dataclass
class Project:
    """What every command needs, loaded on first use."""

    root: Path | None = None

    @cached_property
    def settings(self) -> Settings:
        return load_settings(self.root)

    @cached_property
    def library(self) -> PromptLibrary:
        return PromptLibrary(self.settings.prompts_path)


pass_project = click.make_pass_decorator(Project, ensure=True)


class _Group(click.Group):
    """Turns promptkit's errors into one line on stderr and the documented exit code."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except ModelCallError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(EXIT_FAILURE)
        except PromptkitError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(EXIT_USAGE)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--project", "root", type=click.Path(file_okay=False, path_type=Path), default=None,
    help="Project folder (default: the nearest folder with pyproject.toml or prompts/).",
)
@click.version_option(package_name="promptkit")
@click.pass_context
def cli(ctx: click.Context, root: Path | None) -> None:
    """promptkit: prompts releasable like code: versioned, tested, gated, pinned."""
    ctx.obj = Project(root=root)


def main() -> None:
    """Console-script entry point."""
    cli()
