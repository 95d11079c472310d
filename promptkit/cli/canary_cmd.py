"""`promptkit canary`: start, widen, promote or abort a canary, and let the monitor look at
it (once, or every few seconds until it ends)."""

from __future__ import annotations

import time

import click

from promptkit.cli.app import EXIT_FAILURE, Project, cli, pass_project
from promptkit.evals.canary import CanaryDecision, CanaryPolicy, arm_stats, check, decide
from promptkit.registry.records import LedgerEntry


@cli.command("canary")
@click.argument("name")
@click.argument("version", required=False)
@click.option("--env", required=True, help="Environment, e.g. production.")
@click.option("--percent", type=float, default=None,
              help="Share of requests VERSION gets (start, or change the share).")
@click.option("--promote", is_flag=True, help="Pin the canary's version (through ENV's rules).")
@click.option("--abort", is_flag=True, help="Stop the canary: every request gets the pin.")
@click.option("--check", "look", is_flag=True,
              help="Let the monitor look once and act: abort, promote or hold.")
@click.option("--watch", type=float, default=None, metavar="SECONDS",
              help="Look every SECONDS until the canary ends.")
@click.option("--reason", default=None, help="Why (kept in the ledger; needed to change it).")
@pass_project
def canary_command(project: Project, name: str, version: str | None, env: str,
                   percent: float | None, promote: bool, abort: bool, look: bool,
                   watch: float | None, reason: str | None) -> None:
    """Serve VERSION to --percent of ENV's requests, by a key the application passes to
    `promptkit.get(..., key=...)`; --promote, --abort; --check / --watch let the monitor
    compare the arms on the call log and act by the project's canary policy. Without an
    option: the canary's arms so far. Exit 1 when the monitor aborted it."""
    chosen = [o for o, given in (("--percent", percent is not None), ("--promote", promote),
                                 ("--abort", abort), ("--check", look),
                                 ("--watch", watch is not None)) if given]
    if len(chosen) > 1:
        raise click.UsageError(f"give one of {', '.join(chosen)}")
    registry = project.registry
    if chosen and chosen[0] in ("--percent", "--promote", "--abort") and not reason:
        raise click.UsageError(f"{chosen[0]} needs --reason: say why (kept in the ledger)")
    if percent is not None:
        if version is None:
            raise click.UsageError("give the VERSION the canary serves")
        _moved(registry.canary(name, version, env=env, percent=percent, reason=str(reason)))
    elif promote:
        _moved(registry.promote_canary(name, env=env, reason=str(reason)))
    elif abort:
        _moved(registry.abort_canary(name, env=env, reason=str(reason)))
    elif look or watch is not None:
        _monitor(project, name, env, watch)
    else:
        _status(project, name, env)


def _moved(entry: LedgerEntry) -> None:
    click.echo(f"{entry.name}@{entry.env}: {entry.action} {entry.to_version}  (#{entry.id} "
               f"by {entry.actor}; {entry.reason})")


def _monitor(project: Project, name: str, env: str, every: float | None) -> None:
    policy = CanaryPolicy.from_settings(project.settings)
    while True:
        decision = check(project.registry, name, env, policy)
        _decided(decision)
        if every is None or decision.action != "hold" or (decision.calls == 0 and "no canary" in (
                decision.reason)):
            break
        time.sleep(every)
    if decision.action == "abort":
        raise SystemExit(EXIT_FAILURE)


def _decided(decision: CanaryDecision) -> None:
    click.echo(f"{decision.action}: {decision.reason}")
    for metric in decision.metrics:
        click.echo(f"  {metric.line()}")


def _status(project: Project, name: str, env: str) -> None:
    running = next((c for c in project.registry.canaries([name]) if c.env == env), None)
    if running is None:
        click.echo(f"{name} has no canary running in {env}", err=True)
        return
    click.echo(f"{name}@{env}: {running.version} to {running.percent:g}% of requests since "
               f"{running.started_at:%Y-%m-%d %H:%M:%S}Z (by {running.started_by})")
    with project.registry.engine.connect() as conn:
        stats = arm_stats(conn, running)
    for arm, found in sorted(stats.items()):
        click.echo(f"  {arm}: {found.calls} calls")
    policy = CanaryPolicy.from_settings(project.settings)
    _decided(decide(stats, policy, running.looked_at))
