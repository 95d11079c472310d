"""Least-privilege database roles: which role may do what on which table (the one
declaration, `GRANTS`), and the SQL that creates them on PostgreSQL and MySQL/MariaDB.

    serving   serving apps: resolve pinned versions and model configs, write the call log
    ci        CI: what serving may, and publish versions, store eval results and gate verdicts
    release   the release person or pipeline: what ci may, and move pins, approve moves, set
              model configs (environment rules stay the database owner's)

`roles_script(registry)` is the SQL for the registry's database (it changes nothing);
`apply_roles(registry)` migrates every component imported in the process, as the user the
URL connects as, then runs that SQL. The database enforces the roles, not promptkit: a
statement a role may not run is refused by the server (`RegistryPermissionError`).
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from promptkit.db.engine import is_mysql, unavailable_as_error
from promptkit.errors import UsageError
from promptkit.registry.store import Registry

__all__ = [
    "DEFAULT_PREFIX",
    "DELETE",
    "GRANTS",
    "INSERT",
    "PURPOSES",
    "SELECT",
    "UPDATE",
    "AppliedRoles",
    "RolesScript",
    "Target",
    "apply_roles",
    "check_prefix",
    "declared_tables",
    "role_name",
    "roles_script",
]

SELECT, INSERT, UPDATE, DELETE = "SELECT", "INSERT", "UPDATE", "DELETE"
_ORDER = (SELECT, INSERT, UPDATE, DELETE)

Grants = Mapping[str, frozenset[str]]
"""Table name -> the privileges a role has on it."""

Dialect = Literal["postgresql", "mysql"]

DEFAULT_PREFIX = "promptkit_"
_PREFIX = re.compile(r"^[a-z][a-z0-9_]{0,24}$")  # + "release" stays within MySQL's 32


def _with(base: Grants, more: Mapping[str, Iterable[str]]) -> dict[str, frozenset[str]]:
    """`base` and the privileges of `more` together."""
    merged = dict(base)
    for table, privileges in more.items():
        merged[table] = merged.get(table, frozenset()) | frozenset(privileges)
    return merged


_CHAIN_READ = ["promptkit_pin_ledger", "promptkit_chain_head", "promptkit_model_config_history",
               "promptkit_gate_results", "promptkit_env_rules", "promptkit_env_rule_history",
               "promptkit_move_requests"]
"""What checking the history needs (`promptkit pins`, the resolver's check under a pin)."""

_SERVING = _with({}, {
    **{table: [SELECT] for table in _CHAIN_READ},
    "promptkit_migrations": [SELECT],  # is the schema up to date?
    "promptkit_prompts": [SELECT],
    "promptkit_versions": [SELECT],
    "promptkit_pins": [SELECT],
    "promptkit_model_configs": [SELECT],
    "promptkit_canaries": [SELECT],  # which share of requests gets which version
    "promptkit_call_log": [INSERT],  # written, never read: the calls of other apps stay theirs
    "promptkit_feedback": [INSERT],  # promptkit.feedback(call_id, score)
    "promptkit_heartbeats": [SELECT, INSERT, UPDATE],  # each process upserts its own rows
    "promptkit_heartbeat_pins": [SELECT, INSERT, UPDATE],
})  # fmt: skip

_CI = _with(_SERVING, {
    "promptkit_prompts": [INSERT],  # publish
    "promptkit_versions": [INSERT],
    "promptkit_eval_runs": [SELECT, INSERT],  # the results store only inserts: no UPDATE
    "promptkit_eval_results": [SELECT, INSERT],
    "promptkit_gate_results": [INSERT],  # a verdict is a chained entry:
    "promptkit_chain_head": [UPDATE],  # its writer locks the head (FOR UPDATE) and moves it
    "promptkit_reviews": [SELECT],  # reviewed cases become judge-calibration labels
})  # fmt: skip

_RELEASE = _with(_CI, {
    "promptkit_pin_ledger": [INSERT],
    "promptkit_pins": [INSERT, UPDATE],
    "promptkit_model_configs": [INSERT, UPDATE],
    "promptkit_model_config_history": [INSERT],
    "promptkit_move_requests": [INSERT],  # requests and approvals: events, never updated
    "promptkit_canaries": [INSERT, UPDATE, DELETE],  # a canary ends when aborted or promoted
    "promptkit_call_log": [SELECT],  # the canary monitor compares the arms on it
    "promptkit_feedback": [SELECT],
    "promptkit_reviews": [INSERT],  # reviews in `promptkit view`
})  # fmt: skip
"""Not even release may change an environment's rules (`promptkit_env_rules`): that is the
database owner's, so whoever moves production cannot first remove its protection."""

GRANTS: Mapping[str, Grants] = {"serving": _SERVING, "ci": _CI, "release": _RELEASE}
"""Role -> table -> privileges: the one declaration of who may do what. Each role has every
privilege of the one before it."""

PURPOSES: Mapping[str, str] = {
    "serving": "serving apps: resolve pinned versions and model configs, write the call log",
    "ci": "CI: also publish versions, store eval results and gate verdicts",
    "release": "the release person or pipeline: also move pins, approve moves and set "
               "model configs (environment rules stay the database owner's)",
}

def declared_tables() -> frozenset[str]:
    """Every table some role may use."""
    return frozenset(table for grants in GRANTS.values() for table in grants)


def check_prefix(prefix: str) -> str:
    """`prefix`, if it makes valid role names on every server (else UsageError)."""
    if not _PREFIX.match(prefix):
        raise UsageError(f"role prefix {prefix!r}: use 1 to 25 lowercase letters, digits or "
                         f"'_', starting with a letter (like {DEFAULT_PREFIX!r})")
    return prefix


def role_name(role: str, prefix: str = DEFAULT_PREFIX) -> str:
    """The database name of `role` (`serving`, `ci`, `release`)."""
    return f"{check_prefix(prefix)}{role}"


@dataclass(frozen=True)
class Target:
    """Where the roles go: the dialect, the schema (PostgreSQL) or database (MySQL) of the
    registry's tables, and which declared tables are there to be granted."""

    dialect: Dialect
    namespace: str
    tables: frozenset[str]

    @property
    def left_out(self) -> list[str]:
        """Declared tables not granted, because the database has no such table."""
        return sorted(declared_tables() - self.tables)


@dataclass(frozen=True)
class RolesScript:
    """The SQL for one database: a comment header, then per role its statements."""

    target: Target
    prefix: str
    header: tuple[str, ...]
    sections: tuple[tuple[str, tuple[str, ...]], ...]
    """(comment, statements) per role."""
    passwords: tuple[str, ...]
    """How to set each role's password (with `<password>` to fill in)."""

    @property
    def statements(self) -> list[str]:
        """What runs, in order (without the trailing semicolons)."""
        return [s for _, statements in self.sections for s in statements]

    def text(self) -> str:
        lines = [f"-- {line}" if line else "--" for line in self.header]
        for comment, statements in self.sections:
            lines += ["", f"-- {comment}", *(f"{s};" for s in statements)]
        return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class AppliedRoles:
    """What `apply_roles` did: the script it ran and the roles it created or updated."""

    script: RolesScript
    created: tuple[str, ...]
    updated: tuple[str, ...]


def roles_script(registry: Registry, prefix: str = DEFAULT_PREFIX) -> RolesScript:
    """The SQL that creates the roles in the registry's database and grants on its tables
    (and on those the migrations of this promptkit will create). Changes nothing."""
    dialect = _server_dialect(registry)
    check_prefix(prefix)
    with unavailable_as_error(registry.url), registry.engine.connect() as conn:
        target = _target(conn, dialect, also=declared_tables())
    return _script(target, prefix)


def apply_roles(registry: Registry, prefix: str = DEFAULT_PREFIX) -> AppliedRoles:
    """Migrate every component imported in this process (as the user the URL connects as),
    then create the roles that do not exist and grant each its privileges. Tables that are
    not in the database are left out (`script.target.left_out`). Safe to run again."""
    dialect = _server_dialect(registry)
    names = [role_name(role, prefix) for role in GRANTS]
    registry.migrate()
    with unavailable_as_error(registry.url), registry.engine.connect() as conn:
        script = _script(_target(conn, dialect), prefix)
        existing = _existing_roles(conn, dialect, names)
        for statement in script.statements:
            conn.execute(sa.text(statement))  # text(): '%' escaped for the driver
        conn.commit()
    return AppliedRoles(script, tuple(n for n in names if n not in existing),
                        tuple(n for n in names if n in existing))


def _server_dialect(registry: Registry) -> Dialect:
    if registry.engine.dialect.name == "postgresql":
        return "postgresql"
    if is_mysql(registry.engine):
        return "mysql"
    raise UsageError(
        f"database roles need a server database (PostgreSQL or MySQL/MariaDB), and "
        f"{registry.url} is {registry.engine.dialect.name}: on SQLite whoever can open the "
        f"file can do anything, so protect the file with filesystem permissions instead")


def _target(conn: Connection, dialect: Dialect, also: frozenset[str] = frozenset()) -> Target:
    """The connection's schema or database, and the declared tables in it (or in `also`)."""
    query = "SELECT current_schema()" if dialect == "postgresql" else "SELECT DATABASE()"
    namespace = conn.exec_driver_sql(query).scalar()
    if not namespace:
        where = "no schema of its search_path exists" if dialect == "postgresql" else \
            "the URL names no database"
        raise UsageError(f"cannot tell where the registry's tables are: {where}")
    present = set(sa.inspect(conn).get_table_names(schema=str(namespace)))
    return Target(dialect, str(namespace), declared_tables() & (present | also))


def _existing_roles(conn: Connection, dialect: Dialect, names: list[str]) -> set[str]:
    query = ("SELECT rolname FROM pg_roles WHERE rolname IN :names" if dialect == "postgresql"
             else "SELECT User FROM mysql.user WHERE Host = '%' AND User IN :names")
    statement = sa.text(query).bindparams(sa.bindparam("names", expanding=True))
    return {str(name) for name in conn.execute(statement, {"names": names}).scalars()}


def _script(target: Target, prefix: str) -> RolesScript:
    names = {role: role_name(role, prefix) for role in GRANTS}
    statements = _pg_role if target.dialect == "postgresql" else _mysql_role
    sections = tuple(
        (f"{names[role]}: {PURPOSES[role]}", tuple(statements(target, names[role], grants)))
        for role, grants in GRANTS.items())
    passwords = tuple(_password(target.dialect, name) for name in names.values())
    return RolesScript(target, prefix, _header(target, passwords), sections, passwords)


def _password(dialect: Dialect, name: str) -> str:
    if dialect == "postgresql":
        return f"ALTER ROLE {_pg_ident(name)} PASSWORD '<password>';"
    return f"ALTER USER '{name}'@'%' IDENTIFIED BY '<password>' ACCOUNT UNLOCK;"


def _header(target: Target, passwords: tuple[str, ...]) -> tuple[str, ...]:
    setting = [f"  {line}" for line in passwords]
    if target.dialect == "postgresql":
        where, kind = f'PostgreSQL, schema "{target.namespace}"', "roles"
        how = ["The roles are created without a password. Set one for each before use (in",
               "psql, \\password NAME asks for it without echoing it):", *setting]
    else:
        where, kind = f"MySQL/MariaDB, database `{target.namespace}`", "users"
        how = ["The users are created without a password and locked, so nobody can log in",
               "as them until a password is set:", *setting]
    left_out = textwrap.wrap(f"Not granted, no such table in the database yet: "
                             f"{', '.join(target.left_out)}.", width=86)
    return (f"promptkit database {kind} for {where}",
            "(declared in promptkit.registry.roles). Run as a user who may create them, once",
            "the tables exist: `promptkit db roles --apply` migrates every component first.",
            "Running it again is harmless: it creates what is missing and grants again.",
            "", *how, *left_out)


def _privileges(grants: Grants, table: str) -> str:
    return ", ".join(p for p in _ORDER if p in grants[table])


def _granted(target: Target, grants: Grants) -> list[str]:
    return sorted(table for table in grants if table in target.tables)


def _pg_role(target: Target, name: str, grants: Grants) -> list[str]:
    role, schema = _pg_ident(name), _pg_ident(target.namespace)
    return [
        f"DO $$ BEGIN CREATE ROLE {role} LOGIN; "
        f"EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$",
        f"GRANT USAGE ON SCHEMA {schema} TO {role}",
        *(f"GRANT {_privileges(grants, t)} ON TABLE {schema}.{_pg_ident(t)} TO {role}"
          for t in _granted(target, grants)),
        *_pg_sequences(target, name, grants),
    ]


def _pg_sequences(target: Target, name: str, grants: Grants) -> list[str]:
    """USAGE and SELECT on the sequences behind the serial ids of the tables the role
    inserts into, looked up in the catalog when the statement runs."""
    tables = [t for t in _granted(target, grants) if INSERT in grants[t]]
    if not tables:
        return []
    schema = _pg_ident(target.namespace).replace("'", "''")
    regclasses = ",\n".join(f"      to_regclass('{schema}.{_pg_ident(t)}')" for t in tables)
    return [
        "DO $$ DECLARE seq regclass; BEGIN\n"
        "  FOR seq IN SELECT d.objid::regclass FROM pg_depend d\n"
        "    JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'\n"
        f"    WHERE d.deptype IN ('a', 'i') AND d.refobjid IN (\n{regclasses})\n"
        "  LOOP EXECUTE 'GRANT USAGE, SELECT ON SEQUENCE ' || seq::text || ' TO ' || "
        f"quote_ident('{name}');\n"
        "  END LOOP;\n"
        "END $$"
    ]


def _mysql_role(target: Target, name: str, grants: Grants) -> list[str]:
    user, database = f"'{name}'@'%'", _mysql_ident(target.namespace)
    return [
        f"CREATE USER IF NOT EXISTS {user} ACCOUNT LOCK",
        *(f"GRANT {_privileges(grants, t)} ON {database}.{_mysql_ident(t)} TO {user}"
          for t in _granted(target, grants)),
    ]


def _pg_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _mysql_ident(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"
