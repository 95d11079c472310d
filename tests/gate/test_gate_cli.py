"""`promptkit gate` on a recorded project, offline: the must-shows (3 of 40 regressed → exit 1
with exactly those flips; identical → 0; better everywhere → 0), labels, reuse, reports."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from gate_helpers import CASES, CRITICAL, REGRESSED, Invoke, gate_json

from promptkit.config import load_settings
from promptkit.registry import Registry


def flips(report: dict) -> list[tuple[str, str]]:
    return [(f["case_id"], f["flip"]) for f in report["flips"]]


def test_three_of_forty_regressed_exits_1_listing_exactly_those_flips(promptkit: Invoke) -> None:
    code, report, err = gate_json(promptkit, "--candidate", "1.1.0", "--baseline", "1.0.0")
    assert code == 1, err
    assert flips(report) == [(case, "regression") for case in REGRESSED]
    assert (report["cases"], report["baseline_passed"], report["candidate_passed"]) == (40, 40, 37)
    stats = report["stats"]
    assert stats["diff"] == -0.075 and stats["regressions"] == 3 and stats["improvements"] == 0
    # Replayed recordings hold one answer each: re-sampling gives it back, so the three flips
    # are exact (no noise to weigh) and the interval is the point.
    assert stats["ci_low"] == stats["ci_high"] == -0.075
    assert stats["resampled"] == 3 and stats["exact"] == 3 + stats["audited"]
    assert stats["calls"] == stats["first_pass_calls"] == 80  # nothing was called again
    assert stats["p_value"] == 0.25  # exact McNemar: 2 * (1/2)**3
    failed = [(c["name"], c["status"]) for c in report["checks"] if not c["passed"]]
    assert failed == [("non-inferiority", "fail")]
    assert all(f["held"] for f in report["flips"])
    assert report["candidate"]["source"] == "ran (none)"  # replayed from the recordings

    code, markdown, _ = promptkit("gate", "parity", "--candidate", "1.1.0", "--baseline", "1.0.0")
    assert code == 1
    assert markdown.startswith("### ❌ promptkit gate: `parity@1.1.0` regresses against `parity@1.0.0`")
    listed = [line for line in markdown.splitlines() if "pass → fail" in line]
    assert [line.split("`")[1] for line in listed] == [f"parity::{c}" for c in REGRESSED]
    assert "expected 'odd' at parity, got 'even'" in listed[0]
    assert "**Flips (3)**" in markdown and "| cases passed | 40/40 (100.0%) | 37/40 (92.5%)" in markdown
    assert "The candidate is shown to be worse than the baseline." in markdown
    assert "replayed a recording that holds one answer, which cannot vary" in markdown


def test_identical_versions_exit_0(promptkit: Invoke) -> None:
    for candidate in ("1.0.0", "1.2.0"):  # itself, and a reworded version answering the same
        code, report, err = gate_json(promptkit, "--candidate", candidate, "--baseline", "1.0.0")
        assert code == 0, err
        assert report["flips"] == [] and report["verdict"] == "pass"
        assert (report["stats"]["ci_low"], report["stats"]["ci_high"]) == (0.0, 0.0)
        assert report["stats"]["p_value"] == 1.0
        # stored results are reused only when asked (--reuse): both sides ran
        assert report["baseline"]["source"] == report["candidate"]["source"] == "ran (none)"


def test_a_candidate_better_on_every_case_exits_0(promptkit: Invoke) -> None:
    code, report, err = gate_json(promptkit, "--candidate", "1.0.0", "--baseline", "0.9.0")
    assert code == 0, err
    assert flips(report) == [(f"case-{n:02d}", "improvement") for n in range(1, CASES + 1)]
    assert report["stats"]["ci_low"] == report["stats"]["diff"] == 1.0
    assert report["stats"]["p_value"] < 1e-11  # 2 / 2**40


def test_a_critical_case_may_never_flip_whatever_the_margin(promptkit: Invoke) -> None:
    code, report, _ = gate_json(promptkit, "--candidate", "1.3.0", "--baseline", "1.0.0",
                                "--margin", "0.5")
    assert code == 1
    failed = {c["name"]: c["detail"] for c in report["checks"] if not c["passed"]}
    assert failed == {"critical cases": f"critical case(s) now fail: parity::{CRITICAL}"}
    assert report["flips"][0]["critical"] is True


def test_min_pass_rate_applies_to_the_candidate(promptkit: Invoke) -> None:
    code, report, _ = gate_json(promptkit, "--candidate", "1.1.0", "--baseline", "0.9.0",
                                "--min-pass-rate", "0.95")
    assert code == 1
    failed = {c["name"]: c["detail"] for c in report["checks"] if not c["passed"]}
    assert failed == {"min pass rate": "candidate 92.5%, minimum 95.0%"}


def test_a_label_baseline_resolves_through_the_pin(promptkit: Invoke, gate_project: Path) -> None:
    assert promptkit("publish", "parity")[0] == 0
    assert promptkit("pin", "parity", "1.0.0", "--env", "production", "--reason", "first")[0] == 0
    code, report, _ = gate_json(promptkit, "--candidate", "1.2.0", "--baseline", "production")
    assert code == 0
    assert (report["baseline"]["version"], report["baseline"]["label"]) == ("1.0.0", "production")
    code, _, err = promptkit("gate", "parity", "--candidate", "1.2.0", "--baseline", "staging")
    assert code == 2 and "parity has no version pinned to 'staging'" in err


def test_stored_results_of_the_same_content_hash_are_reused(
    promptkit: Invoke, gate_project: Path
) -> None:
    first = gate_json(promptkit, "--candidate", "1.1.0", "--baseline", "1.0.0")[1]
    assert first["baseline"]["source"] == first["candidate"]["source"] == "ran (none)"
    for path in (gate_project / "fixtures").rglob("*.json"):
        path.unlink()  # nothing left to replay: only the store can answer now
    code, _, _ = promptkit("gate", "parity", "--candidate", "1.1.0", "--baseline", "1.0.0")
    assert code == 2  # no silent reuse: without --reuse every case misses its recording
    code, again, err = gate_json(promptkit, "--candidate", "1.1.0", "--baseline", "1.0.0",
                                 "--reuse")
    assert code == 1, err
    assert again["baseline"]["source"].startswith("stored run ")
    assert again["baseline"]["source"].endswith("(reused)")
    assert again["candidate"]["source"].startswith("stored run ")
    assert flips(again) == flips(first)
    assert "(reused)" in promptkit("gate", "parity", "--candidate", "1.1.0", "--baseline",
                                   "1.0.0", "--reuse")[1]  # announced in the summary too


def test_results_of_an_edited_suite_are_not_reused(promptkit: Invoke, gate_project: Path) -> None:
    gate_json(promptkit, "--candidate", "1.1.0", "--baseline", "1.0.0")
    suite = gate_project / "evals" / "parity.yaml"
    suite.write_text(suite.read_text().replace("  - schema\n", "  - schema\n  - latency: {max_ms: 60000}\n"))
    for path in (gate_project / "fixtures").rglob("*.json"):
        path.unlink()
    code, report, _ = gate_json(promptkit, "--candidate", "1.1.0", "--baseline", "1.0.0",
                                "--reuse")
    assert code == 2 and report["baseline"]["source"] == "ran (none)"  # the assertions changed


def test_missing_recordings_are_an_error_not_a_regression(
    promptkit: Invoke, gate_project: Path
) -> None:
    (gate_project / "fixtures/parity/parity@1.2.0/case-12.json").unlink()
    code, report, _ = gate_json(promptkit, "--candidate", "1.2.0", "--baseline", "1.0.0")
    assert code == 2 and report["verdict"] == "error"
    assert report["errors"] == ["parity@1.2.0: 1 case(s) have no recording (parity::case-12); "
                                "record them (--record once) or run with a live model"]


def test_usage_errors_exit_2(promptkit: Invoke) -> None:
    code, _, err = promptkit("gate", "parity", "--candidate", "9.9.9", "--baseline", "1.0.0")
    assert code == 2 and "no version '9.9.9'" in err
    code, _, err = promptkit("gate", "parity", "--candidate", "1.1.0", "--baseline", "1.0.0",
                             "--suite", "nope")
    assert code == 2 and "no suite nope for parity" in err
    code, _, err = promptkit("gate", "parity", "--candidate", "1.1.0", "--baseline", "1.0.0",
                             "--margin", "5")
    assert code == 2 and "margin is a fraction" in err


def test_the_verdict_is_stored_for_promote(promptkit: Invoke, gate_project: Path) -> None:
    promptkit("gate", "parity", "--candidate", "1.1.0", "--baseline", "1.0.0")
    code, _, err = promptkit("gate", "parity", "--candidate", "1.2.0", "--baseline", "1.0.0")
    assert code == 0 and "gate #2 passed: parity@1.2.0 against 1.0.0" in err
    registry = Registry(load_settings(gate_project).database_url)
    records = registry.gates("parity")
    assert [(r.candidate_version, r.passed, r.actor) for r in records] == [
        ("1.2.0", True, "alice@ci"), ("1.1.0", False, "alice@ci")]
    assert records[1].summary["flips"][0]["case_id"] == REGRESSED[0]
    registry.close()


def test_reports_in_every_format(promptkit: Invoke, gate_project: Path) -> None:
    out = gate_project / "out"
    code, _, _ = promptkit("gate", "parity", "--candidate", "1.1.0", "--baseline", "1.0.0",
                           "--report", str(out / "gate.md"), "--report", str(out / "gate.html"),
                           "--report", str(out / "gate.json"), "--report", str(out / "gate.csv"))
    assert code == 1
    assert (out / "gate.md").read_text().startswith("### ❌ promptkit gate")
    data = json.loads((out / "gate.json").read_text())
    assert len(data["case_results"]) == CASES and data["exit_code"] == 1
    rows = list(csv.DictReader((out / "gate.csv").open()))
    assert len(rows) == CASES
    assert [r["case_id"] for r in rows if r["flip"] == "regression"] == list(REGRESSED)
    html = (out / "gate.html").read_text()
    assert "REGRESSION: parity@1.1.0 against parity@1.0.0" in html
    assert 'data-flip="regression"' in html and "http" not in html.split("<body>")[1]
