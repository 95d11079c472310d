"""`promptkit judge calibrate SUITE`: how far a suite's judges agree with human labels."""

from __future__ import annotations

import click

from promptkit.cli.app import EXIT_FAILURE, Project, cli, pass_project
from promptkit.evals import EvalOptions, EvalSession
from promptkit.evals.calibration_run import calibrate_suite
from promptkit.evals.suite import load_suite
from promptkit.replay import RecordMode


@cli.group("judge")
def judge_group() -> None:
    """Graded judges: calibrate them against human labels."""


@judge_group.command("calibrate")
@click.argument("suite")
@click.option("--record", type=click.Choice([m.value for m in RecordMode]), default="none",
              show_default=True, help="Record mode for the judge's calls (none: replay only).")
@click.option("--model", default=None, metavar="CONFIG",
              help="Judge model config for judges that name none.")
@pass_project
def calibrate_command(project: Project, suite: str, record: str, model: str | None) -> None:
    """Score SUITE's human-labelled outputs (`evals/SUITE.labels.jsonl`) with its judges and
    report agreement (Cohen's kappa, Spearman), bias and the best threshold; the result is
    written to `evals/SUITE.calibration.json` for the gate report. Exit 1 when a judge
    disagrees with the humans (verdict kappa below 0.4)."""
    path = project.settings.evals_path / (suite if suite.endswith(".yaml") else f"{suite}.yaml")
    if not path.is_file():
        raise click.UsageError(f"no suite {path}")
    session = EvalSession(project.settings, EvalOptions(record=RecordMode(record), model=model))
    try:
        run = calibrate_suite(session, load_suite(path))
    finally:
        session.finish()
    for calibration in run.calibrations:
        click.echo(calibration.line())
    project.info(f"written: {run.written}")
    if any(c.disagrees for c in run.calibrations):
        raise SystemExit(EXIT_FAILURE)
