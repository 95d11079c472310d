"""`promptkit init`: scaffold a project that passes `pytest evals` offline at once."""

from __future__ import annotations

import click

from promptkit.cli.app import Project, cli, pass_project
from promptkit.evals.scaffold import init_project


@cli.command("init")
@pass_project
def init_command(project: Project) -> None:
    """Write pyproject settings, a first prompt, its suite and a recording (files that exist
    are kept), so that `pytest evals` passes offline; then edit and record for real."""
    root = project.root or project.settings.root
    done = init_project(root)
    for path in done.written:
        click.echo(f"created {path.relative_to(root)}")
    for path in done.kept:
        click.echo(f"kept    {path.relative_to(root)} (it exists)")
    click.echo("next: `pytest evals` (offline, from the recording); set OPENAI_API_KEY and "
               "`pytest evals --prompt-record=all` to record a real model's answers")
