"""Red teaming: adversarial cases generated offline from built-in attack families, written
as an eval suite a team keeps, run through the eval session, and reported per family."""

from promptkit.evals.redteam.generate import Plan, RedTeamCase, Secrets, generate
from promptkit.evals.redteam.report import (
    FamilyTally,
    Finding,
    RedTeamReport,
    build_report,
    markdown_report,
    write_report,
)
from promptkit.evals.redteam.run import (
    default_suite_path,
    plan_red_team,
    run_red_team,
    write_suite,
)
from promptkit.evals.redteam.strategies import FAMILIES, Family

__all__ = [
    "FAMILIES",
    "Family",
    "FamilyTally",
    "Finding",
    "Plan",
    "RedTeamCase",
    "RedTeamReport",
    "Secrets",
    "build_report",
    "default_suite_path",
    "generate",
    "markdown_report",
    "plan_red_team",
    "run_red_team",
    "write_report",
    "write_suite",
]
