"""The root command group: project settings, error reporting, and exit codes."""

from __future__ import annotations

import ast
import importlib
import logging
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import click

from promptkit.config import Settings, load_settings
from promptkit.errors import ModelCallError, PromptkitError, ProtectedEnvironmentError
from promptkit.templates.library import PromptLibrary

if TYPE_CHECKING:
    from promptkit.registry import Registry
    from promptkit.registry.references import References
    from promptkit.templates import Prompt

__all__ = [
    "COMMAND_MODULES",
    "EXIT_FAILURE",
    "EXIT_OK",
    "EXIT_USAGE",
    "Project",
    "cli",
    "main",
    "pass_project",
    "retries_option",
]

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


@dataclass
class Project:
    """What every command needs, loaded on first use."""

    root: Path | None = None
    quiet: bool = False
    verbose: bool = False

    def info(self, message: str) -> None:
        """A note on stderr (what was stored where, what a decision relied on); --quiet
        drops it. Results go to stdout, errors and warnings always to stderr."""
        if not self.quiet:
            click.echo(message, err=True)

    @cached_property
    def settings(self) -> Settings:
        return load_settings(self.root)

    @cached_property
    def library(self) -> PromptLibrary:
        return PromptLibrary(self.settings.prompts_path)

    @cached_property
    def registry(self) -> Registry:
        """The project's registry, closed when the command ends."""
        return self.open_registry()

    @cached_property
    def references(self) -> References:
        """The one reference resolver over the project's files and registry (read only: a
        command that only resolves never creates the database)."""
        from promptkit.registry.references import References

        return References(self.library, self.open_registry(create=False))

    def open_registry(self, *, create: bool = True) -> Registry:
        """A registry on the project's database URL, closed when the command ends
        (imported here, so commands that never touch it do not load SQLAlchemy);
        `create=False` never makes a SQLite file."""
        from promptkit.registry import Registry

        registry = Registry(self.settings.database_url, create=create)
        click.get_current_context().call_on_close(registry.close)
        return registry

    def prompt(self, ref: str) -> Prompt:
        """`NAME`, `NAME@VERSION` or `NAME@LABEL` → the prompt (see `References`)."""
        return self.references.resolve(ref).prompt


pass_project = click.make_pass_decorator(Project, ensure=True)

retries_option = click.option(
    "--retries", type=click.IntRange(min=0), default=None, metavar="N",
    help="Retry a transient failure up to N times per model config (overrides "
         "[tool.promptkit.retry] max_attempts and PROMPTKIT_RETRY_MAX_ATTEMPTS).")
"""The commands that call models share it; `RetryPolicy.from_settings(retries=N)` applies it."""


COMMAND_MODULES = {
    "approve": "protect_cmd", "canary": "canary_cmd", "config": "registry_cmd", "db": "db_cmd",
    "diff": "prompts",
    "env": "protect_cmd", "fleet": "fleet_cmd", "gate": "gate_cmd", "history": "registry_cmd",
    "init": "init_cmd", "judge": "judge_cmd", "lint": "lint_cmd", "list": "prompts",
    "local": "local_cmd",
    "logs": "logs_cmd", "provenance": "prompts", "new": "prompts", "pin": "registry_cmd",
    "pins": "registry_cmd",
    "promote": "gate_cmd", "publish": "registry_cmd", "redteam": "redteam_cmd",
    "render": "prompts",
    "rollback": "registry_cmd", "run": "run_cmd", "show": "prompts",
    "view": "promptkit.view.command",
}  # fmt: skip
"""Which module of promptkit.cli defines each command: it is imported only when its command
runs, so `promptkit list` does not pay for the SDK, SQLAlchemy and pandas. A dotted name is a
module of another layer-5 adapter (the CLI never imports it statically); its `command` is
added to the group."""


class _Group(click.Group):
    """Loads commands on demand, and turns promptkit's errors into one line on stderr and
    the documented exit code."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(COMMAND_MODULES))

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The commands with their short help, read from their modules' source rather than
        imported: `promptkit --help` stays as light as `promptkit list`."""
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(map(len, names))
        rows = [(name, self.commands[name].get_short_help_str(limit) if name in self.commands
                 else _summary(_docstring(name), limit))
                for name in names]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in self.commands and name in COMMAND_MODULES:
            module = COMMAND_MODULES[name]
            if "." in module:
                self.add_command(importlib.import_module(module).command, name)
            else:
                importlib.import_module(f"promptkit.cli.{module}")
        return super().get_command(ctx, name)

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except (ModelCallError, ProtectedEnvironmentError) as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(EXIT_FAILURE)
        except PromptkitError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(EXIT_USAGE)


def _docstring(name: str) -> str:
    """The docstring of command `name`'s function, found in its module's source."""
    module = COMMAND_MODULES[name]
    dotted = module if "." in module else f"promptkit.cli.{module}"
    path = Path(__file__).resolve().parents[2].joinpath(*dotted.split(".")).with_suffix(".py")
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and _declares(node, name, "." in module):
            return ast.get_docstring(node) or ""
    return ""


def _summary(doc: str, limit: int) -> str:
    """A docstring's first sentence, cut to `limit` characters at a word, as click does."""
    sentence = " ".join(doc.split("\n\n", 1)[0].split()).split(". ", 1)[0].rstrip(".")
    if len(sentence) <= limit:
        return sentence
    return sentence[: max(0, limit - 3)].rsplit(" ", 1)[0] + "..."


def _declares(function: ast.FunctionDef, name: str, adapter: bool) -> bool:
    """`@cli.command("name")` / `@something.group("name")` (or, in another adapter's
    module, the function named `command`)."""
    if adapter:
        return function.name == "command"
    for decorator in function.decorator_list:
        if (isinstance(decorator, ast.Call) and isinstance(decorator.func, ast.Attribute)
                and decorator.func.attr in ("command", "group") and decorator.args
                and isinstance(decorator.args[0], ast.Constant)
                and decorator.args[0].value == name):
            return True
    return False


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--project", "root", type=click.Path(file_okay=False, path_type=Path), default=None,
    help="Project folder (default: the nearest folder with pyproject.toml or prompts/).",
)
@click.option("-q", "--quiet", is_flag=True,
              help="Only results, warnings and errors: no notes, no progress line.")
@click.option("-v", "--verbose", is_flag=True,
              help="Also log what promptkit does (retries, registry checks) to stderr.")
@click.version_option(package_name="promptkit")
@click.pass_context
def cli(ctx: click.Context, root: Path | None, quiet: bool, verbose: bool) -> None:
    """promptkit: prompts releasable like code: versioned, tested, gated, pinned.

    Progress of long commands shows on a terminal only (never in CI logs or pipes);
    NO_COLOR is honoured."""
    if quiet and verbose:
        raise click.UsageError("--quiet and --verbose contradict each other: give one")
    if verbose:
        logging.basicConfig(format="%(name)s: %(message)s")
        logging.getLogger("promptkit").setLevel(logging.INFO)
    ctx.obj = Project(root=root, quiet=quiet, verbose=verbose)


def main() -> None:
    """Console-script entry point."""
    cli()
