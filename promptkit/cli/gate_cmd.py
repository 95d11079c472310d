"""`promptkit gate` (compare a candidate with a baseline, exit 0/1/2) and `promptkit promote`
(move a pin only after a passing gate)."""

from __future__ import annotations

from pathlib import Path

import click

from promptkit.cli.app import EXIT_FAILURE, Project, cli, pass_project
from promptkit.errors import PromotionRefusedError
from promptkit.evals import EvalOptions, EvalSession
from promptkit.evals.gate import GateReport, Thresholds
from promptkit.evals.gate_run import Gate
from promptkit.evals.gate_store import store_verdict
from promptkit.evals.promotion import promote
from promptkit.evals.reports import markdown_summary, report_json, write_report
from promptkit.registry import Registry
from promptkit.replay import RecordMode


@cli.command("gate")
@click.argument("name")
@click.option("--candidate", required=True, metavar="VERSION",
              help="The version to judge: a version, latest, or a registry label.")
@click.option("--baseline", required=True, metavar="VERSION|LABEL",
              help="What it must not be worse than: a version, or a label such as production.")
@click.option("--suite", "suites", multiple=True, metavar="SUITE",
              help="Only this suite of evals/ (repeatable; default: every suite of NAME).")
@click.option("--record", type=click.Choice([m.value for m in RecordMode]), default="none",
              show_default=True, help="Record mode for cases run now (none: replay only).")
@click.option("--reuse/--no-reuse", default=True, show_default=True,
              help="Reuse stored results of the exact same content hash and cases.")
@click.option("--repeat", type=click.IntRange(min=1), default=None,
              help="Run every case N times.")
@click.option("--model", default=None, metavar="CONFIG", help="Model config for every call.")
@click.option("--concurrency", type=click.IntRange(min=1), default=8, show_default=True)
@click.option("--margin", type=float, default=0.02, show_default=True,
              help="Non-inferiority margin: the CI's lower end may not pass -MARGIN.")
@click.option("--confidence", type=float, default=0.95, show_default=True)
@click.option("--min-pass-rate", type=float, default=None,
              help="Fail below this share of cases passed by the candidate (0-1).")
@click.option("--max-cost-increase", type=float, default=None,
              help="Fail when the cost grows by more than this fraction (0.2 = +20%).")
@click.option("--max-latency-increase", type=float, default=None,
              help="Fail when the p50 latency grows by more than this fraction.")
@click.option("--report", "reports", multiple=True, type=click.Path(path_type=Path),
              metavar="PATH", help="Also write a report: .md, .html, .json or .csv (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of markdown.")
@pass_project
def gate_command(project: Project, name: str, candidate: str, baseline: str,
                 suites: tuple[str, ...], record: str, reuse: bool, repeat: int | None,
                 model: str | None, concurrency: int, margin: float, confidence: float,
                 min_pass_rate: float | None, max_cost_increase: float | None,
                 max_latency_increase: float | None, reports: tuple[Path, ...],
                 as_json: bool) -> None:
    """Compare NAME's CANDIDATE with BASELINE case by case over its eval suites.

    Prints a markdown summary (flips, pass-rate difference with its confidence interval,
    cost and latency) and stores the verdict for `promptkit promote`. Exit 0 pass,
    1 regression, 2 error (usage, missing recordings, unreachable database).
    """
    thresholds = Thresholds(margin=margin, min_pass_rate=min_pass_rate, confidence=confidence,
                            max_cost_increase=max_cost_increase,
                            max_latency_increase=max_latency_increase)
    options = EvalOptions(record=RecordMode(record), repeat=repeat, concurrency=concurrency,
                          model=model)
    session = EvalSession(project.settings, options)
    gate = Gate(session, thresholds, reuse=reuse)
    try:
        report = gate.run(name, candidate=candidate, baseline=baseline, suites=suites)
    finally:
        session.finish()
    session.results.extend(gate.ran)
    session.save_results()
    _store(session.registry, report)
    for path in reports:
        write_report(report, path)
    click.echo(report_json(report) if as_json else markdown_summary(report), nl=False)
    raise SystemExit(report.exit_code)


def _store(registry: Registry, report: GateReport) -> None:
    record = store_verdict(registry, report)
    registry.close()
    if record is not None:
        click.echo(f"{record.line()} (stored in {registry.url})", err=True)


@cli.command("promote")
@click.argument("name")
@click.argument("version")
@click.option("--env", required=True, help="Environment whose pin moves, e.g. production.")
@click.option("--reason", default=None, help="Why (kept in the ledger; required with --force).")
@click.option("--force", is_flag=True, help="Pin without a passing gate (needs --reason).")
@pass_project
def promote_command(project: Project, name: str, version: str, env: str, reason: str | None,
                    force: bool) -> None:
    """Pin NAME in ENV to VERSION if a passing gate exists for its exact content against
    what ENV serves now. Exit 0 pinned, 1 refused (it says which gate to run), 2 error."""
    try:
        done = promote(project.registry, name, version, env=env, reason=reason, force=force)
    except PromotionRefusedError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(EXIT_FAILURE) from None
    if done.entry is None:
        click.echo(f"{name}@{env} already serves {version}'s content: nothing to do")
        return
    entry = done.entry
    how = f"forced: {entry.reason}" if done.forced else entry.reason
    click.echo(f"{entry.name}@{entry.env}: {entry.from_version or '(none)'} -> "
               f"{entry.to_version}  ({entry.action} #{entry.id} by {entry.actor}; {how})")
    if done.gate is not None:
        click.echo(f"relying on {done.gate.line()}", err=True)
