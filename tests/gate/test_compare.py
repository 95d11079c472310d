"""`compare`: pairing by suite and case, each threshold on its own, errors that make a
comparison invalid, and the reports built from the result."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from promptkit.errors import UsageError
from promptkit.evals.gate import GateReport, Thresholds, VersionRef, compare
from promptkit.evals.reports import (
    html_report,
    markdown_summary,
    report_csv,
    report_json,
    text_summary,
    write_report,
)

BASE, CAND = VersionRef("p", "1.0.0", "sha256:a", "production"), VersionRef("p", "2.0.0", "sha256:b")


def row(case: str, passed: bool = True, *, suite: str = "s", critical: bool = False,
        cost: float = 0.01, latency: float = 0.1, **more: Any) -> dict[str, Any]:
    return {"suite": suite, "case_id": case, "critical": critical, "passed": passed,
            "pass_rate": 1.0 if passed else 0.0, "cost_usd": cost, "latency_s": latency,
            "output": {"label": "x" if passed else "y"},
            "failures": [] if passed else [{"kind": "equals", "message": f"{case} wrong"}],
            **more}


def gate(base: list[dict[str, Any]], cand: list[dict[str, Any]], **limits: Any) -> GateReport:
    return compare(BASE, CAND, base, cand, Thresholds(**limits))


def failed(report: GateReport) -> dict[str, str]:
    return {c.name: c.detail for c in report.failed_checks}


def test_cases_pair_by_suite_and_case_id_in_any_order() -> None:
    base = [row("a", suite="s1"), row("a", suite="s2"), row("b", suite="s1")]
    cand = [row("b", suite="s1"), row("a", False, suite="s2"), row("a", suite="s1")]
    report = gate(base, cand, margin=1.0)
    assert [(c.key, c.flip) for c in report.regressions] == [("s2::a", "regression")]
    assert report.suites == ("s1", "s2")


def test_a_case_on_one_side_only_is_an_error() -> None:
    report = gate([row("a"), row("b")], [row("a"), row("c")])
    assert report.exit_code == 2 and report.verdict == "error"
    assert report.errors == ("s::b has no candidate result: both versions must run the same cases",
                             "s::c has no baseline result: both versions must run the same cases")
    assert gate([], []).errors == ("no case to compare: the suites selected no case",)


def test_cost_and_latency_limits_are_relative_to_the_baseline() -> None:
    base = [row(str(i), cost=0.01, latency=0.100) for i in range(10)]
    cand = [row(str(i), cost=0.013, latency=0.150) for i in range(10)]
    assert gate(base, cand).passed  # off unless given
    report = gate(base, cand, max_cost_increase=0.2, max_latency_increase=0.6)
    assert failed(report) == {"cost increase": "$0.1000 -> $0.1300 (+30.0%), limit +20%"}
    report = gate(base, cand, max_cost_increase=0.3, max_latency_increase=0.4)
    assert failed(report) == {"p50 latency increase": "100 ms -> 150 ms (+50.0%), limit +40%"}
    free = [row("a", cost=0.0)]
    assert failed(gate(free, [row("a", cost=0.001)], max_cost_increase=5.0)) == {
        "cost increase": "$0.0000 -> $0.0010 (+inf), limit +500%"}


def test_an_answer_is_judged_by_the_suite_threshold_over_its_repeats() -> None:
    """A sample of a case is all its repeats, passed or failed by the suite's threshold:
    the gate weighs those verdicts, so 3 of 5 repeats at threshold 0.5 is a pass."""
    base = [{**row(str(i)), "pass_rate": 1.0, "repeats": 5} for i in range(50)]
    cand = [{**row(str(i)), "pass_rate": 0.6, "repeats": 5} for i in range(50)]
    report = gate(base, cand)
    assert report.regressions == [] and report.stats.diff == 0 and report.passed
    worse = [{**row(str(i), i >= 10), "repeats": 5} for i in range(50)]
    report = gate(base, worse)
    assert report.stats.diff == pytest.approx(-0.2) and report.verdict == "regression"
    assert report.stats.first_pass_calls == 2 * 5 * 50  # a pair of samples: 2 × the repeats


def test_a_large_suite_tolerates_noise_inside_the_margin() -> None:
    """1000 cases, 6 regressions and 4 improvements: -0.2 pts, CI [-0.8, +0.4] pts."""
    base = [row(str(i), i >= 4) for i in range(1000)]
    cand = [row(str(i), not 4 <= i < 10) for i in range(1000)]
    report = gate(base, cand)
    assert (report.stats.regressions, report.stats.improvements) == (6, 4)
    assert report.passed and report.stats.ci_low > -0.02


def test_thresholds_are_checked() -> None:
    for bad in ({"margin": -0.1}, {"min_pass_rate": 2.0}, {"max_cost_increase": -1.0},
                {"confidence": 1.0}):
        with pytest.raises(UsageError):
            Thresholds(**bad)


def test_markdown_escapes_table_breakers_and_caps_the_flip_list() -> None:
    base = [row(f"c{i}") for i in range(60)]
    cand = [row(f"c{i}", False, failures=[{"kind": "x", "message": "a|b\n<b>c</b>"}])
            for i in range(60)]
    text = markdown_summary(gate(base, cand))
    assert ("| `s::c0` | pass → fail | baseline 1/1, candidate 0/1 | "
            "x: a\\|b &lt;b&gt;c&lt;/b&gt; |") in text
    assert "| … | | | 10 more in the HTML report |" in text
    assert text.splitlines()[0] == ("### ❌ promptkit gate: `p@2.0.0` regresses against "
                                    "`p@1.0.0` (production)")


def test_json_csv_and_text_carry_the_same_verdict() -> None:
    report = gate([row("a"), row("b")], [row("a"), row("b", False)])
    data = json.loads(report_json(report))
    assert (data["verdict"], data["exit_code"], data["flips"][0]["case_id"]) == ("regression", 1, "b")
    assert data["case_results"][1]["candidate"]["reasons"] == ["equals: b wrong"]
    rows = list(csv.DictReader(io.StringIO(report_csv(report))))
    assert [(r["case_id"], r["flip"], r["candidate_reason"]) for r in rows] == [
        ("a", "", ""), ("b", "regression", "equals: b wrong")]
    lines = text_summary(report)
    assert lines[0] == "REGRESSION: p@2.0.0 against p@1.0.0 (production)"
    assert lines[1] == "  The candidate is shown to be worse than the baseline."
    assert lines[-1] == "  pass -> fail  s::b (baseline 1/1, candidate 0/1): equals: b wrong"


def test_html_marks_only_the_changed_tokens() -> None:
    base = [row("a", text="The sky is blue today", output=None)]
    cand = [row("a", text="The sky is grey today", output=None)]
    html = html_report(gate(base, cand))
    assert "The sky is <del>blue</del> today" in html and "The sky is <ins>grey</ins> today" in html


def test_write_report_picks_the_format_by_suffix(tmp_path: Path) -> None:
    report = gate([row("a")], [row("a")])
    assert write_report(report, tmp_path / "r.md").read_text().startswith("### ✅")
    assert write_report(report, tmp_path / "x" / "r.html").read_text().startswith("<!doctype")
    with pytest.raises(UsageError, match=r"\.md, \.html, \.json or \.csv"):
        write_report(report, tmp_path / "r.txt")
