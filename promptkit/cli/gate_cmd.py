"""`promptkit gate` (compare a candidate with a baseline, exit 0/1/2) and `promptkit promote`
(move a pin only after a passing gate)."""

from __future__ import annotations

from pathlib import Path

import click

from promptkit.cli.app import EXIT_FAILURE, Project, cli, pass_project, retries_option
from promptkit.cli.progress import watching
from promptkit.errors import PromotionRefusedError
from promptkit.evals import EvalOptions, EvalSession
from promptkit.evals.gate import GateReport, Thresholds
from promptkit.evals.gate_run import Gate
from promptkit.evals.gate_store import store_verdict
from promptkit.evals.plan import plan_gate
from promptkit.evals.promotion import promote
from promptkit.evals.reports import markdown_summary, report_json, write_report
from promptkit.evals.sequential import Design
from promptkit.registry import Registry
from promptkit.replay import RecordMode


@cli.command("gate")
@click.argument("name")
@click.option("--candidate", default=None, metavar="VERSION",
              help="The version to judge: a version, latest, or a registry label.")
@click.option("--baseline", required=True, metavar="VERSION|LABEL",
              help="What it must not be worse than: a version, or a label such as production.")
@click.option("--suite", "suites", multiple=True, metavar="SUITE",
              help="Only this suite of evals/ (repeatable; default: every suite of NAME).")
@click.option("--record", type=click.Choice([m.value for m in RecordMode]), default="none",
              show_default=True, help="Record mode for the calls (none: replay only; new: "
              "record what is missing, re-samples included; all: call the model every time).")
@click.option("--reuse/--no-reuse", default=False, show_default=True,
              help="Take a first pass from stored results of the same prompt and suite "
              "content (never under --record all).")
@click.option("--repeat", type=click.IntRange(min=1), default=None,
              help="Run every case N times per sample.")
@click.option("--model", default=None, metavar="CONFIG", help="Model config for every call.")
@click.option("--concurrency", type=click.IntRange(min=1), default=8, show_default=True)
@retries_option
@click.option("--margin", type=float, default=0.02, show_default=True,
              help="Non-inferiority margin: pass when the lower bound is above -MARGIN.")
@click.option("--confidence", type=float, default=0.95, show_default=True)
@click.option("--max-calls", type=click.IntRange(min=1), default=None,
              help="Call budget of both versions, first pass included [default: 3 passes].")
@click.option("--max-cost", type=float, default=None, metavar="USD",
              help="Cost budget in USD [default: none].")
@click.option("--on-inconclusive", type=click.Choice(["pass", "fail"]), default=None,
              help="Exit 0 (pass) or 1 (fail) when the budget runs out undecided "
              "[default: exit 3].")
@click.option("--min-pass-rate", type=float, default=None,
              help="Fail below this share of cases passed by the candidate (0-1).")
@click.option("--max-cost-increase", type=float, default=None,
              help="Fail when the cost grows by more than this fraction (0.2 = +20%).")
@click.option("--max-latency-increase", type=float, default=None,
              help="Fail when the p50 latency grows by more than this fraction.")
@click.option("--plan", is_flag=True,
              help="Spend nothing: estimate from the baseline's stored answers what a gate "
              "costs and detects.")
@click.option("--effect", type=float, default=0.05, show_default=True,
              help="With --plan: the drop in pass rate to detect (0.05 = 5 points).")
@click.option("--report", "reports", multiple=True, type=click.Path(path_type=Path),
              metavar="PATH", help="Also write a report: .md, .html, .json or .csv (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of markdown.")
@pass_project
def gate_command(project: Project, name: str, candidate: str | None, baseline: str,
                 suites: tuple[str, ...], record: str, reuse: bool, repeat: int | None,
                 model: str | None, concurrency: int, retries: int | None,
                 margin: float, confidence: float,
                 max_calls: int | None, max_cost: float | None, on_inconclusive: str | None,
                 min_pass_rate: float | None, max_cost_increase: float | None,
                 max_latency_increase: float | None, plan: bool, effect: float,
                 reports: tuple[Path, ...], as_json: bool) -> None:
    """Compare NAME's CANDIDATE with BASELINE case by case over its eval suites.

    Every case runs once per version; cases whose answers disagree (and a random 5% of the
    rest) run again, both versions, until the difference is decided at the stated
    confidence or the budget runs out. Prints a markdown summary and stores the verdict for
    `promptkit promote`. Exit 0 pass, 1 regression, 2 error (usage, missing recordings,
    unreachable database), 3 inconclusive (see --on-inconclusive).
    """
    thresholds = Thresholds(margin=margin, min_pass_rate=min_pass_rate, confidence=confidence,
                            max_cost_increase=max_cost_increase,
                            max_latency_increase=max_latency_increase,
                            on_inconclusive=on_inconclusive)  # type: ignore[arg-type]
    design = Design(max_calls=max_calls, max_cost=max_cost)
    options = EvalOptions(record=RecordMode(record), repeat=repeat, concurrency=concurrency,
                          model=model, retries=retries)
    session = EvalSession(project.settings, options)
    gate = Gate(session, thresholds, design, reuse=reuse)
    if plan:
        _plan(gate, name, baseline, suites, effect)
        return
    if candidate is None:
        raise click.UsageError("--candidate is required (or --plan)")
    try:
        with watching(session, f"gate {name}@{candidate} vs {baseline}", quiet=project.quiet):
            report = gate.run(name, candidate=candidate, baseline=baseline, suites=suites)
    finally:
        session.finish()
    session.results.extend(gate.ran)
    session.save_results()
    _store(project, session.registry, report)
    for path in reports:
        write_report(report, path)
    click.echo(report_json(report) if as_json else markdown_summary(report), nl=False)
    raise SystemExit(report.exit_code)


def _plan(gate: Gate, name: str, baseline: str, suites: tuple[str, ...], effect: float) -> None:
    chosen = gate.suites(name, suites)
    prompt, _ = gate.resolve(name, baseline)
    rates = gate.stored_rates(prompt, chosen)
    if not rates:
        raise click.ClickException(
            f"no stored results of {prompt.ref} for {', '.join(s.name for s in chosen)}: "
            f"run `pytest evals --prompt-version={prompt.version}` (or a gate) first")
    found = plan_gate(rates, effect=effect, margin=gate.thresholds.margin,
                      confidence=gate.thresholds.confidence, design=gate.design)
    click.echo(f"plan for {prompt.ref} (margin {gate.thresholds.margin * 100:g} pts, "
               f"budget {gate.design.budget_passes:g} passes):")
    for line in found.lines():
        click.echo(f"  {line}")


def _store(project: Project, registry: Registry, report: GateReport) -> None:
    record = store_verdict(registry, report)
    registry.close()
    if record is not None:
        project.info(f"{record.line()} (stored in {registry.url})")


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
    what ENV serves now. Exit 0 pinned, 1 refused (it says which gate to run), 2 error (a
    file edited after it was published, say, named with what to do)."""
    if not force:  # an incident's forced pin takes the published content as it is
        project.references.resolve(name, version)  # the file must hold what was published
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
        project.info(f"relying on {done.gate.line()}")
