"""Gate reports: a markdown summary for a pull request, a self-contained HTML report, JSON
and CSV exports."""

from promptkit.evals.reports.exports import report_csv, report_json, write_report
from promptkit.evals.reports.html import html_report
from promptkit.evals.reports.markdown import markdown_summary
from promptkit.evals.reports.text import text_summary

__all__ = ["html_report", "markdown_summary", "report_csv", "report_json", "text_summary",
           "write_report"]
