"""The gate's report as JSON (everything) and CSV (one row per case), and every format
written by a file's suffix."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from promptkit.errors import UsageError
from promptkit.evals.gate import CaseComparison, GateReport
from promptkit.evals.reports.html import html_report
from promptkit.evals.reports.markdown import markdown_summary

__all__ = ["CSV_COLUMNS", "FORMATS", "report_csv", "report_json", "write_report"]

CSV_COLUMNS = (
    "suite", "case_id", "critical", "flip", "changed",
    "baseline_passed", "candidate_passed", "baseline_pass_rate", "candidate_pass_rate",
    "baseline_cost_usd", "candidate_cost_usd", "baseline_latency_s", "candidate_latency_s",
    "baseline_reason", "candidate_reason", "baseline_output", "candidate_output",
)  # fmt: skip

FORMATS = {".md": "markdown", ".markdown": "markdown", ".html": "html", ".htm": "html",
           ".json": "json", ".csv": "csv"}


def report_json(report: GateReport) -> str:
    """The verdict, figures, checks, flips and every case, as indented JSON."""
    return json.dumps(report.as_dict(), indent=2, ensure_ascii=False, default=str) + "\n"


def report_csv(report: GateReport) -> str:
    """One row per case, both versions side by side."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(_csv_row(case) for case in report.cases)
    return buffer.getvalue()


def _csv_row(case: CaseComparison) -> dict[str, Any]:
    row: dict[str, Any] = {"suite": case.suite, "case_id": case.case_id,
                           "critical": case.critical, "flip": case.flip or "",
                           "changed": case.changed}
    for side, result in (("baseline", case.baseline), ("candidate", case.candidate)):
        row.update({
            f"{side}_passed": result.passed, f"{side}_pass_rate": result.pass_rate,
            f"{side}_cost_usd": result.cost_usd, f"{side}_latency_s": result.latency_s,
            f"{side}_reason": "" if result.passed else result.reason(),
            f"{side}_output": result.shown(),
        })  # fmt: skip
    return row


def write_report(report: GateReport, path: Path) -> Path:
    """Write the report in the format its suffix names (.md, .html, .json or .csv)."""
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise UsageError(f"{path}: a report is .md, .html, .json or .csv")
    text = {"markdown": markdown_summary, "html": html_report, "json": report_json,
            "csv": report_csv}[kind](report)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
