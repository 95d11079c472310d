"""A red team from start to end: the prompt's plan, the suite file a team keeps, and its
run through the eval session (so calls are recorded in `fixtures/` and replay offline)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from promptkit.errors import UsageError
from promptkit.evals.redteam.carriers import REDTEAM_SUFFIX, find_carriers
from promptkit.evals.redteam.generate import Plan, generate
from promptkit.evals.redteam.report import RedTeamReport, build_report
from promptkit.evals.redteam.target import analyse
from promptkit.evals.runner import EvalItem
from promptkit.evals.session import EvalSession
from promptkit.evals.suite import load_suite
from promptkit.templates import Prompt

__all__ = ["default_suite_path", "plan_red_team", "run_red_team", "write_suite"]


def default_suite_path(evals: Path, prompt: Prompt) -> Path:
    """`evals/<prompt>.redteam.yaml`: where `pytest evals` runs it with the other suites."""
    return evals / f"{prompt.name}{REDTEAM_SUFFIX}.yaml"


def plan_red_team(prompt: Prompt, evals: Path, *, families: Sequence[str] = (),
                  per_family: int = 3, seed: int = 0, judge: str | None = None,
                  model: str | None = None) -> Plan:
    """The cases for `prompt`, planted in the inputs of its own suites in `evals`."""
    target = analyse(prompt, {})
    carriers = find_carriers(evals, prompt, target.label.path if target.label else None)
    return generate(target, carriers, families=families, per_family=per_family, seed=seed,
                    judge=judge, model=model)


def write_suite(plan: Plan, path: Path, command: str, *, force: bool = False) -> Path:
    """Write the plan's suite to `path`; a different file already there is kept unless
    `force` (a team may have edited its regression suite)."""
    text = plan.yaml_text(command)
    if path.exists() and not force and path.read_text(encoding="utf-8") != text:
        raise UsageError(f"{path} exists and differs from the generated suite: pass --force "
                         "to overwrite it, or --out to write elsewhere")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def run_red_team(session: EvalSession, plan: Plan, path: Path) -> RedTeamReport:
    """Run the suite at `path` against the plan's prompt version; the results are also
    stored with the project's other eval results."""
    suite = load_suite(path)
    prompt = plan.target.prompt
    items = [EvalItem(suite, case, prompt) for case in suite.cases]
    try:
        results = session.run(items)
    finally:
        session.finish()
    session.results.extend(results)
    session.save_results()
    return build_report(prompt.ref, plan.seed, str(path), results)
