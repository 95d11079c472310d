"""`promptkit lint`: check every prompt file; exit 0 clean, 1 findings, 2 usage error."""

from __future__ import annotations

import json

import click

from promptkit.cli.app import EXIT_FAILURE, EXIT_OK, Project, cli, pass_project
from promptkit.templates.lint import lint


@cli.command("lint")
@click.option("--base", metavar="REF",
              help="Git revision whose released versions must be unchanged.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.option("--strict", is_flag=True, help="Fail on warnings too.")
@pass_project
def lint_command(project: Project, base: str | None, fmt: str, strict: bool) -> None:
    """Check front matter, template syntax, variables, schemas and immutability."""
    findings = lint(project.library, base=base)
    if fmt == "json":
        click.echo(json.dumps([f.as_dict() for f in findings], indent=2))
    else:
        for finding in findings:
            click.echo(f"{finding}" + (" (warning)" if finding.severity == "warning" else ""))
    failing = [f for f in findings if strict or f.severity == "error"]
    if fmt == "text":
        count = len(list(project.library.files()))
        click.echo(f"{count} prompt file(s), {len(failing)} error(s), "
                   f"{len(findings) - len(failing)} warning(s)", err=True)
    raise SystemExit(EXIT_FAILURE if failing else EXIT_OK)
