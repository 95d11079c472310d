"""Evals: suites, datasets, assertions, a concurrent runner, results and summaries."""

from promptkit.evals.assertions import ASSERTIONS, Assertion, Observation, Outcome
from promptkit.evals.results import CaseResult, RunResult
from promptkit.evals.runner import EvalItem, EvalRunner
from promptkit.evals.selection import select_versions
from promptkit.evals.session import EvalOptions, EvalSession
from promptkit.evals.suite import Case, Suite, load_suite, load_suites
from promptkit.evals.summary import VersionSummary, results_frame, summarize

__all__ = [
    "ASSERTIONS",
    "Assertion",
    "Case",
    "CaseResult",
    "EvalItem",
    "EvalOptions",
    "EvalRunner",
    "EvalSession",
    "Observation",
    "Outcome",
    "RunResult",
    "Suite",
    "VersionSummary",
    "load_suite",
    "load_suites",
    "results_frame",
    "select_versions",
    "summarize",
]
