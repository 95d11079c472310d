"""Commands that read prompt files: list, show, render, diff, new, log."""

from __future__ import annotations

import difflib
import json
import re
from pathlib import Path

import click

from promptkit.cli.app import Project, cli, pass_project
from promptkit.cli.vars import collect_variables
from promptkit.errors import UsageError
from promptkit.templates.front_matter import NAME_PATTERN
from promptkit.templates.provenance import find_repo, introductions
from promptkit.templates.versions import next_version

var_option = click.option("--var", "pairs", multiple=True, metavar="KEY=VALUE",
                           help="A template variable (repeatable; JSON values allowed).")
vars_file_option = click.option("--vars", "vars_file", metavar="FILE.json", default=None,
                                type=click.Path(dir_okay=False, exists=True, path_type=Path),
                                help="A JSON object of template variables.")


@cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_project
def list_command(project: Project, as_json: bool) -> None:
    """List prompts and their versions (oldest first)."""
    library = project.library
    rows = [{"name": n, "versions": library.versions(n)} for n in library.names()]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo(f"no prompts under {library.root}", err=True)
    for row in rows:
        click.echo(f"{row['name']:<24} {', '.join(row['versions'])}")


@cli.command("show")
@click.argument("ref")
@pass_project
def show_command(project: Project, ref: str) -> None:
    """Show one version's metadata, hash and template (NAME, NAME@VERSION or NAME@LABEL)."""
    prompt = project.prompt(ref)
    click.echo(f"# {prompt.ref}  {prompt.content_hash}")
    click.echo(f"# {prompt.path or '(from the registry: no file)'}")
    click.echo(prompt.source, nl=False)


@cli.command("render")
@click.argument("ref")
@var_option
@vars_file_option
@pass_project
def render_command(project: Project, ref: str, pairs: tuple[str, ...], vars_file: Path | None):
    """Render NAME, NAME@VERSION or NAME@LABEL to chat messages (JSON) without calling any
    model."""
    prompt = project.prompt(ref)
    messages = prompt.render(collect_variables(pairs, vars_file, prompt.meta.inputs))
    click.echo(json.dumps(messages, indent=2, ensure_ascii=False))


@cli.command("diff")
@click.argument("name")
@click.argument("old")
@click.argument("new")
@pass_project
def diff_command(project: Project, name: str, old: str, new: str) -> None:
    """Unified diff of two versions (front matter and template)."""
    library = project.library
    a, b = library.load(name, old), library.load(name, new)
    lines = difflib.unified_diff(
        a.source.splitlines(keepends=True), b.source.splitlines(keepends=True),
        fromfile=a.ref, tofile=b.ref,
    )
    click.echo("".join(lines), nl=False)


@cli.command("new")
@click.argument("name")
@click.option("--from", "source", metavar="VERSION", default=None,
              help="Version to copy (default: the latest).")
@click.option("--bump", type=click.Choice(["major", "minor", "patch"]), default="minor",
              show_default=True, help="Which part of the latest version to raise.")
@click.option("--version", "target", metavar="VERSION", default=None,
              help="The new version (default: the latest version, bumped).")
@pass_project
def new_command(project: Project, name: str, source: str | None, bump: str, target: str | None):
    """Copy a version into a new version file, ready to edit; for a prompt with no version
    yet, write its first one (1.0.0, or --version) from a template."""
    library = project.library
    if not library.versions(name) and source is None:
        path = library.path(name, target or FIRST_VERSION)
        _check_name(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(FIRST_PROMPT.format(name=name, version=target or FIRST_VERSION),
                        encoding="utf-8")
        click.echo(f"created {path} (a first version: edit it, then `promptkit lint`)")
        return
    prompt = library.load(name, source)
    target = target or next_version(library.resolve_version(name), bump)
    path = library.path(name, target)
    if path.exists():
        raise UsageError(f"{path} already exists: versions are immutable")
    path.write_text(_with_version(prompt.source, prompt.version, target), encoding="utf-8")
    click.echo(f"created {path} (from {prompt.ref})")


FIRST_VERSION = "1.0.0"
FIRST_PROMPT = """\
---
name: {name}
version: {version}
description: What this prompt does, in one line.
model: default                # a model config name: `promptkit config list`
inputs:
  text: string
---
system:
You are a helpful assistant.

user:
{{{{ text }}}}
"""


def _check_name(name: str) -> None:
    if not re.fullmatch(NAME_PATTERN, name):
        raise UsageError(f"{name!r} is not a prompt name: use lowercase letters, digits, '.', '-' "
                         f"and '_', starting with a letter or digit")


def _with_version(source: str, old: str, new: str) -> str:
    """The file text with its front-matter `version:` line set to `new`."""
    lines = source.splitlines(keepends=True)
    end = next(i for i, line in enumerate(lines[1:], 1) if line.strip() == "---")
    for i in range(1, end):
        if lines[i].startswith("version:"):
            lines[i] = f"version: {new}\n"
            return "".join(lines)
    lines.insert(1, f"version: {new}\n")
    return "".join(lines)


@cli.command("provenance")
@click.argument("name")
@pass_project
def provenance_command(project: Project, name: str) -> None:
    """Versions of NAME with the commit, author and date that introduced each."""
    library = project.library
    versions = library.versions(name) or [library.resolve_version(name)]
    repo = find_repo(library.root)
    if repo is None:
        click.echo(f"{library.root} is not inside a git repository: no history to show", err=True)
    for version in versions:
        intro = introductions(repo, library.path(name, version)) if repo else None
        if intro is None:
            click.echo(f"{version:<10} (not committed)")
            continue
        changes = intro.later_changes
        edited = f"  [edited in {changes} later commit(s)]" if changes else ""
        click.echo(f"{version:<10} {intro.commit[:10]}  {intro.date}  "
                   f"{intro.author} <{intro.email}>  {intro.summary}{edited}")
