"""`promptkit db`: the registry's database itself; `db roles` prints or applies the
least-privilege roles that serving apps, CI and releases connect as."""

from __future__ import annotations

import click

# Every component that registers migrations, so that --apply creates every table it grants on.
import promptkit.evals.gate_store
import promptkit.evals.store
import promptkit.registry.calllog_sink
import promptkit.registry.fleet  # noqa: F401
from promptkit.cli.app import Project, cli, pass_project
from promptkit.registry.roles import (
    DEFAULT_PREFIX,
    GRANTS,
    PURPOSES,
    AppliedRoles,
    apply_roles,
    role_name,
    roles_script,
)


@cli.group("db")
def db_group() -> None:
    """The registry's database: least-privilege roles for serving, CI and releases."""


@db_group.command("roles")
@click.option("--apply", "run", is_flag=True,
              help="Run the SQL, as the user the database URL connects as: migrate every "
                   "component first, then create the roles that do not exist and grant.")
@click.option("--prefix", default=DEFAULT_PREFIX, show_default=True,
              help="Prefix of the role names (PREFIXserving, PREFIXci, PREFIXrelease).")
@pass_project
def roles_command(project: Project, run: bool, prefix: str) -> None:
    """Print the SQL that creates the database roles serving apps, CI and the release
    pipeline connect as (PostgreSQL, MySQL/MariaDB), or run it with --apply. Each role may
    do only what its job needs, and the database enforces it (see promptkit.registry.roles)."""
    registry = project.open_registry(create=False)
    if not run:
        click.echo(roles_script(registry, prefix).text(), nl=False)
        return
    _report(apply_roles(registry, prefix))


def _report(done: AppliedRoles) -> None:
    for role in GRANTS:
        name = role_name(role, done.script.prefix)
        click.echo(f"{'created' if name in done.created else 'updated'} {name:<24} "
                   f"{PURPOSES[role]}")
    if done.script.target.left_out:
        click.echo(f"not granted, no such table in the database yet: "
                   f"{', '.join(done.script.target.left_out)}", err=True)
    click.echo("each role needs a password before use (if it has none yet):", err=True)
    for line in done.script.passwords:
        click.echo(f"  {line}", err=True)
