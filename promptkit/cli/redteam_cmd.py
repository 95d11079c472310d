"""`promptkit redteam NAME@VERSION`: generate adversarial cases, keep them as a suite, run
them, report which attacks the prompt resists (exit 0/1/2)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from promptkit.cli.app import Project, cli, pass_project, retries_option
from promptkit.cli.progress import watching
from promptkit.evals import EvalOptions, EvalSession
from promptkit.evals.redteam import (
    FAMILIES,
    default_suite_path,
    markdown_report,
    plan_red_team,
    run_red_team,
    write_report,
    write_suite,
)
from promptkit.replay import RecordMode


@cli.command("redteam")
@click.argument("ref")
@click.option("--families", default="", metavar="A,B",
              help=f"Comma list of families [default: all: {', '.join(FAMILIES)}].")
@click.option("--per-family", type=click.IntRange(min=1), default=3, show_default=True,
              help="Cases per family and attacked input (each family has 5 templates).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Chooses templates, carrier cases and canary values.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Suite file to write [default: evals/NAME.redteam.yaml].")
@click.option("--force", is_flag=True, help="Overwrite a suite file that differs.")
@click.option("--generate-only", is_flag=True, help="Write the suite; call no model.")
@click.option("--model", default=None, metavar="CONFIG",
              help="Model config to attack (written into the suite, so replays match).")
@click.option("--judge", default=None, metavar="CONFIG",
              help="Also grade every case with a judge model of this config.")
@click.option("--record", type=click.Choice([m.value for m in RecordMode]), default="none",
              show_default=True, help="Record mode (none: replay only; new: call the model "
              "for cases without recordings; all: call it every time).")
@click.option("--concurrency", type=click.IntRange(min=1), default=8, show_default=True)
@retries_option
@click.option("--report", "reports", multiple=True, type=click.Path(path_type=Path),
              metavar="PATH", help="Also write the report: .md or .json (repeatable).")
@click.option("--report-only", is_flag=True, help="Exit 0 even when attacks got through.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of markdown.")
@pass_project
def redteam_command(project: Project, ref: str, families: str, per_family: int, seed: int,
                    out: Path | None, force: bool, generate_only: bool, model: str | None,
                    judge: str | None, record: str, concurrency: int, retries: int | None,
                    reports: tuple[Path, ...], report_only: bool, as_json: bool) -> None:
    """Attack NAME@VERSION with cases generated offline from built-in families, write them
    as an eval suite (kept as a regression suite, run by `pytest evals`), run it, and
    report per family the attacks resisted and failed.

    Exit 0 every attack resisted (or --report-only, or --generate-only), 1 some attack got
    through, 2 a usage error or a case that could not be judged (a missing recording, an
    unreachable model).
    """
    prompt = project.prompt(ref)
    chosen = tuple(f.strip() for f in families.split(",") if f.strip())
    evals = project.settings.evals_path
    plan = plan_red_team(prompt, evals, families=chosen, per_family=per_family, seed=seed,
                         judge=judge, model=model)
    command = _command(prompt.ref, seed, per_family, chosen, model, judge)
    path = write_suite(plan, out or default_suite_path(evals, prompt), command, force=force)
    project.info(f"wrote {len(plan.cases)} cases of {len(plan.families)} families to {path}")
    if generate_only:
        return
    options = EvalOptions(record=RecordMode(record), concurrency=concurrency, retries=retries)
    session = EvalSession(project.settings, options)
    with watching(session, f"redteam {prompt.ref}", quiet=project.quiet):
        report = run_red_team(session, plan, path)
    for target in reports:
        write_report(report, target)
    click.echo(json.dumps(report.as_dict(), indent=2, ensure_ascii=False) if as_json
               else markdown_report(report), nl=not as_json)
    raise SystemExit(report.exit_code(report_only))


def _command(ref: str, seed: int, per_family: int, families: tuple[str, ...],
             model: str | None, judge: str | None) -> str:
    """The command that makes this suite again, for its header."""
    options = {"--seed": str(seed), "--per-family": str(per_family),
               "--families": ",".join(families), "--model": model, "--judge": judge}
    return " ".join([f"promptkit redteam {ref}",
                     *(f"{name} {value}" for name, value in options.items() if value)])
