"""Who may move production: `promptkit env protect|show` (an environment's rules) and
`promptkit approve` (pending moves)."""

from __future__ import annotations

import click

from promptkit.cli.app import Project, cli, pass_project
from promptkit.registry.records import ROLLBACK_SKIPPABLE, EnvRules, MoveRequest


@cli.group("env")
def env_group() -> None:
    """Protected environments: the rules a pin move must pass."""


@env_group.command("protect")
@click.argument("env")
@click.option("--require-gate", is_flag=True,
              help="A move needs a passing gate against what ENV serves now.")
@click.option("--approver", "approvers", multiple=True, metavar="ACTOR",
              help="Who may approve a move (repeatable).")
@click.option("--approvals", type=click.IntRange(min=0), default=None,
              help="Approvals a move needs (default: 1 when approvers are named).")
@click.option("--allow", "allowed", multiple=True, metavar="ACTOR",
              help="Only these actors may move ENV's pins (repeatable; default: anyone).")
@click.option("--rollback-skips", default=",".join(ROLLBACK_SKIPPABLE), show_default=True,
              metavar="LIST",
              help="What a rollback to a version ENV served before skips: gate, approval, "
                   "both (comma-separated) or none.")
@click.option("--off", is_flag=True, help="Remove every rule from ENV.")
@click.option("--reason", required=True, help="Why the rules change (kept, chained).")
@pass_project
def protect_command(project: Project, env: str, require_gate: bool,
                    approvers: tuple[str, ...], approvals: int | None,
                    allowed: tuple[str, ...], rollback_skips: str, off: bool,
                    reason: str) -> None:
    """Set ENV's rules (all of them: what is not given is not a rule). Every change is
    recorded in the chained history with who and why."""
    skips = tuple(s.strip() for s in rollback_skips.split(",") if s.strip() not in ("", "none"))
    needed = approvals if approvals is not None else min(1, len(approvers))
    rules = EnvRules(env) if off else EnvRules(env, require_gate, approvers, needed, allowed,
                                               skips)
    saved = project.registry.protect(rules, reason=reason)
    _echo_rules(saved)


@env_group.command("show")
@click.argument("env", required=False)
@pass_project
def show_command(project: Project, env: str | None) -> None:
    """The rules of ENV (or of every protected environment)."""
    found = [project.registry.rules(env)] if env else project.registry.all_rules()
    if not found:
        click.echo("no environment is protected", err=True)
    for rules in found:
        _echo_rules(rules)


def _echo_rules(rules: EnvRules) -> None:
    click.echo(f"{rules.env} (rules revision {rules.revision}):")
    for line in rules.lines():
        click.echo(f"  {line}")


@cli.command("approve")
@click.argument("request_id", type=int, required=False)
@click.option("--reject", is_flag=True, help="Reject the request instead.")
@click.option("--reason", default="", help="Why (kept with the approval).")
@pass_project
def approve_command(project: Project, request_id: int | None, reject: bool, reason: str) -> None:
    """Approve (or --reject) pending move REQUEST_ID; without it, list the pending ones. The
    move lands when the approvals its environment needs are in."""
    if request_id is None:
        pending = project.registry.requests()
        if not pending:
            click.echo("no move is waiting for approval", err=True)
        for request in pending:
            click.echo(_request_line(request))
        return
    request, entry = project.registry.approve(request_id, reason=reason, reject=reject)
    if entry is not None:
        click.echo(f"{entry.name}@{entry.env}: {entry.from_version or '(none)'} -> "
                   f"{entry.to_version}  ({entry.action} #{entry.id}; {entry.reason})")
    else:
        click.echo(_request_line(request))


def _request_line(request: MoveRequest) -> str:
    approved = f", approved by {', '.join(request.approved_by)}" if request.approved_by else ""
    return (f"#{request.id:<4} {request.state:<8} {request.action} {request.name}@"
            f"{request.version} to {request.env} by {request.actor} at "
            f"{request.at:%Y-%m-%d %H:%M:%S}Z{approved}: {request.reason}")
