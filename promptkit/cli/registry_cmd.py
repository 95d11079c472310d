"""Registry commands: publish, config set|list|show|history, pin, rollback, pins, history."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, get_args

import click

from promptkit.cli.app import EXIT_FAILURE, EXIT_USAGE, Project, cli, pass_project
from promptkit.core.types import Capability, Provider
from promptkit.registry import LedgerEntry, model_configs
from promptkit.registry.chain import LedgerHead
from promptkit.registry.environments import check_known_env
from promptkit.registry.records import ConfigChange, StoredConfig

_SHORT_HASH = 19  # "sha256:" and 12 hex digits


def _json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False, default=str))


@cli.command("publish")
@click.argument("names", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_project
def publish_command(project: Project, names: tuple[str, ...], as_json: bool) -> None:
    """Store versions from the prompt files (all prompts, or NAMES). Idempotent; a version
    whose content differs from the stored one is refused (exit 2)."""
    outcomes = project.registry.publish_library(project.library, names)
    if as_json:
        _json([{"ref": o.ref, "status": o.status, "content_hash": o.content_hash,
                "detail": o.detail} for o in outcomes])
    for o in outcomes if not as_json else ():
        shown = o.detail if o.status == "refused" else (o.content_hash or "")[:_SHORT_HASH]
        click.echo(f"{o.status:<10} {o.ref:<32} {shown}")
    counts = {s: sum(o.status == s for o in outcomes) for s in ("published", "present", "refused")}
    project.info(", ".join(f"{n} {s}" for s, n in counts.items()))
    if counts["refused"]:
        raise SystemExit(EXIT_USAGE)


@cli.command("pin")
@click.argument("name")
@click.argument("version")
@click.option("--env", required=True, help="Environment, e.g. production.")
@click.option("--reason", required=True, help="Why the pin moves (kept in the ledger).")
@click.option("--create", is_flag=True,
              help="Allow an environment the project does not declare and has no pin in.")
@pass_project
def pin_command(project: Project, name: str, version: str, env: str, reason: str,
                create: bool) -> None:
    """Point NAME in ENV at a published VERSION (ENV: a declared environment)."""
    check_known_env(project.settings, project.registry, env, create=create)
    _echo_move(project.registry.pin(name, version, env=env, reason=reason))


@cli.command("rollback")
@click.argument("name")
@click.option("--env", required=True, help="Environment, e.g. production.")
@click.option("--to", "to", metavar="VERSION", default=None,
              help="Version to return to (default: the one pinned before the current one).")
@click.option("--reason", required=True, help="Why (kept in the ledger).")
@pass_project
def rollback_command(project: Project, name: str, env: str, to: str | None, reason: str) -> None:
    """Move NAME in ENV back to the previous pin (or to --to VERSION)."""
    _echo_move(project.registry.rollback(name, env=env, to=to, reason=reason))


def _echo_move(entry: LedgerEntry) -> None:
    click.echo(f"{entry.name}@{entry.env}: {entry.from_version or '(none)'} -> "
               f"{entry.to_version}  ({entry.action} #{entry.id} by {entry.actor})")


@cli.command("history")
@click.argument("name", required=False)
@click.option("--env", default=None, help="Only this environment.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--verify", is_flag=True,
              help="Check the hash chain over pin moves, config changes, gates, rule changes "
                   "and approvals; exit 1 naming the first bad entry.")
@click.option("--head", "kept", default=None, metavar="rID:HASH|PATH",
              help="With --verify: a head kept elsewhere (or a file holding one) that the "
                   "chain must pass through, to catch a rewrite of the whole table.")
@click.option("--export-head", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Write the ledger's head (rID:HASH) to this file.")
@pass_project
def history_command(project: Project, name: str | None, env: str | None, as_json: bool,
                    verify: bool, kept: str | None, export_head: Path | None) -> None:
    """Every pin move of NAME: when, who, from, to, why; `--verify` checks the ledger."""
    if verify or export_head is not None:
        _verify_ledger(project, verify, kept, export_head)
        return
    if name is None:
        raise click.UsageError("give NAME (or --verify / --export-head)")
    entries = project.registry.history(name, env)
    if as_json:
        _json([e.as_dict() for e in entries])
        return
    if not entries:
        click.echo(f"no pin moves for {name}" + (f" in {env}" if env else ""), err=True)
    for e in entries:
        click.echo(f"#{e.id:<5} {e.at:%Y-%m-%d %H:%M:%S}Z  {e.env:<12} {e.action:<8} "
                   f"{e.from_version or '-':>9} -> {e.to_version:<9} {e.actor}"
                   f"{f' (db user {e.db_user})' if e.db_user else ''}  {e.reason}")


def _verify_ledger(project: Project, verify: bool, kept: str | None,
                   export_head: Path | None) -> None:
    if export_head is not None:
        head = project.registry.ledger_head()
        export_head.write_text(f"r{head.seq}:{head.row_hash}\n", encoding="utf-8")
        project.info(f"ledger head {head.line()} written to {export_head}")
    if not verify:
        return
    check = project.registry.verify_ledger(_kept_head(kept) if kept else None)
    if not check.ok:
        click.echo(f"history broken: {check.problem}")
        raise SystemExit(EXIT_FAILURE)
    click.echo(f"history verified: {check.rows} entries, head {check.head.line()}")


def _kept_head(text: str) -> LedgerHead:
    """`r12:sha256:...`, or a file holding it."""
    path = Path(text)
    value = path.read_text(encoding="utf-8").strip() if path.is_file() else text.strip()
    ledger_id, _, row_hash = value.partition(":")
    if not ledger_id.startswith("r") or not ledger_id[1:].isdigit() or not row_hash:
        raise click.BadParameter(f"{value!r}: expected rID:HASH (as --export-head writes)",
                                 param_hint="--head")
    return LedgerHead(int(ledger_id[1:]), row_hash)


@cli.command("pins")
@click.argument("names", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_project
def pins_command(project: Project, names: tuple[str, ...], as_json: bool) -> None:
    """What each environment serves now (all prompts, or NAMES); warns when the ledger's
    hash chain is broken (see `promptkit history --verify`)."""
    pins = project.registry.pins(names or None)
    check = project.registry.verify_ledger()
    if not check.ok:
        click.echo(f"warning: the registry's hash chain is broken ({check.problem}); "
                   f"these pins may not be what the ledger says they are", err=True)
    if as_json:
        _json([{"name": p.name, "env": p.env, "version": p.version,
                "content_hash": p.content_hash, "moved_at": p.moved_at.isoformat(),
                "moved_by": p.moved_by, "ledger_id": p.ledger_id} for p in pins])
        return
    for p in pins:
        click.echo(f"{p.name:<24} {p.env:<12} {p.version:<10} {p.content_hash[:_SHORT_HASH]}  "
                   f"{p.moved_at:%Y-%m-%d %H:%M:%S}Z {p.moved_by}")


@cli.group("config")
def config_group() -> None:
    """Model configs in the registry: prompts refer to them by name."""


@config_group.command("set")
@click.argument("name")
@click.option("--model", default=None, help="Model name at the endpoint (required to create).")
@click.option("--provider", type=click.Choice(list(get_args(Provider))), default=None,
              help="The API: openai (Chat Completions, any compatible endpoint), "
                   "openai-responses or anthropic.")
@click.option("--base-url", default=None, help="Endpoint URL (for Azure, with the deployment).")
@click.option("--api-key-env", default=None, metavar="VAR",
              help="Name of the environment variable holding the key (never the key).")
@click.option("--api-key-header", default=None, metavar="HEADER",
              help="Send the key in this header instead (Azure: api-key).")
@click.option("--header", "headers", multiple=True, metavar="NAME=VALUE",
              help="A header sent with every request (repeatable; no secrets).")
@click.option("--query", "query", multiple=True, metavar="NAME=VALUE",
              help="A query parameter sent with every request (Azure: api-version=...).")
@click.option("--organization", default=None, help="OpenAI organization id.")
@click.option("--project", "openai_project", default=None, help="OpenAI project id.")
@click.option("--temperature", type=float, default=None)
@click.option("--max-tokens", type=int, default=None)
@click.option("--capability", type=click.Choice(list(get_args(Capability))),
              default=None, help="How the endpoint can return structured output.")
@click.option("--fallback", "fallback", multiple=True, metavar="OTHER",
              help="Config to fall back to (repeatable, in order).")
@click.option("--price-in", type=float, default=None, help="USD per 1M input tokens.")
@click.option("--price-out", type=float, default=None, help="USD per 1M output tokens.")
@click.option("--context-window", type=int, default=None)
@click.option("--timeout", "timeout_s", type=float, default=None, help="Seconds per attempt.")
@click.option("--max-retries", type=int, default=None)
@click.option("--reason", default=None, help="Why (kept in the config's history).")
@pass_project
def config_set_command(project: Project, name: str, fallback: tuple[str, ...],
                       headers: tuple[str, ...], query: tuple[str, ...],
                       openai_project: str | None, reason: str | None, **fields: Any) -> None:
    """Create model config NAME or change the given fields; the others stay as they are."""
    if fallback:
        fields["fallback"] = fallback
    if headers:
        fields["headers"] = _pairs(headers, "--header")
    if query:
        fields["query"] = _pairs(query, "--query")
    fields["project"] = openai_project
    change = project.registry.set_config(name, reason=reason, **fields)
    changed = ", ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in change.changed_fields().items()
                        if k != "name")
    click.echo(f"{name} revision {change.revision}: {changed or 'no change'}")


def _pairs(given: tuple[str, ...], option: str) -> dict[str, str]:
    pairs = {}
    for text in given:
        name, sep, value = text.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{text!r}: expected NAME=VALUE", param_hint=option)
        pairs[name] = value
    return pairs


@config_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_project
def config_list_command(project: Project, as_json: bool) -> None:
    """Every model config, with its model, endpoint and where it comes from (the registry,
    which wins, or pyproject.toml)."""
    entries = model_configs(project.settings, project.registry).entries()
    if as_json:
        _json([{**e.config.model_dump(mode="json"), "source": e.source} for e in entries])
        return
    for e in entries:
        c = e.config
        click.echo(f"{c.name:<16} {c.model:<28} {c.base_url or '(default endpoint)':<32} "
                   f"{c.capability:<12} {e.source}")


@config_group.command("show")
@click.argument("name")
@pass_project
def config_show_command(project: Project, name: str) -> None:
    """One model config as JSON, as calls use it, with where it comes from."""
    try:
        entry = model_configs(project.settings, project.registry).entry(name)
    except LookupError as exc:
        click.echo(f"error: {exc.args[0]}", err=True)
        raise SystemExit(EXIT_USAGE) from None
    if entry.source.startswith("registry"):
        _json({**_config_dict(project.registry.stored_config(name)), "source": entry.source})
    else:
        _json({**entry.config.model_dump(mode="json"), "source": entry.source})


def _config_dict(stored: StoredConfig) -> dict[str, Any]:
    return {**stored.config.model_dump(mode="json"), "revision": stored.revision,
            "updated_at": stored.updated_at.isoformat(), "updated_by": stored.updated_by}


@config_group.command("history")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_project
def config_history_command(project: Project, name: str, as_json: bool) -> None:
    """Every change of model config NAME: when, who, what changed, why."""
    changes = project.registry.config_history(name)
    if as_json:
        _json([_change_dict(c) for c in changes])
        return
    for c in changes:
        fields = ", ".join(f"{k}={b!r}" for k, (_a, b) in c.changed_fields().items()
                           if k != "name")
        click.echo(f"r{c.revision:<4} {c.at:%Y-%m-%d %H:%M:%S}Z  {c.actor}  {fields}"
                   + (f"  ({c.reason})" if c.reason else ""))


def _change_dict(change: ConfigChange) -> dict[str, Any]:
    return {"revision": change.revision, "at": change.at.isoformat(), "actor": change.actor,
            "reason": change.reason, "config": change.config.model_dump(mode="json"),
            "changed": {k: list(v) for k, v in change.changed_fields().items()}}
