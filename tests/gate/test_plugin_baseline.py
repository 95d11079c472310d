"""`pytest --prompt-baseline`: real pytest sessions (pytester) over the recorded project; the
gate's section in the terminal summary, and the exit code it sets."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from gate_helpers import ENV_NAMES, REGRESSED


@pytest.fixture
def evals_project(pytester: pytest.Pytester, recorded: Path,
                  monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    for part in ("prompts", "evals", "fixtures"):
        shutil.copytree(recorded / part, pytester.path / part)
    shutil.copy(recorded / "pyproject.toml", pytester.path / "pyproject.toml")
    return pytester


def gate_section(result: pytest.RunResult) -> list[str]:
    lines = result.outlines
    start = next(i for i, line in enumerate(lines) if "promptkit gate" in line)
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("="))
    return lines[start + 1:end]


def test_a_regression_fails_the_session_with_the_flips_listed(
    evals_project: pytest.Pytester,
) -> None:
    result = evals_project.runpytest("evals", "--prompt-version=1.1.0", "--prompt-baseline=1.0.0")
    result.assert_outcomes(passed=37, failed=3)  # the baseline is compared, not collected
    assert result.ret == 1
    section = gate_section(result)
    assert section[0] == "REGRESSION: parity@1.1.0 against parity@1.0.0"
    assert section[1] == "  The candidate is shown to be worse than the baseline."
    assert "fail check non-inferiority: diff -7.5 pts" in section[3]
    flipped = [line.split()[3] for line in section if "pass -> fail" in line]
    assert flipped == [f"parity::{case}" for case in REGRESSED]


def test_under_xdist_the_controller_gates_what_the_workers_ran(
    evals_project: pytest.Pytester,
) -> None:
    result = evals_project.runpytest_subprocess("evals", "--prompt-version=1.1.0", "-n", "2",
                                                "--prompt-baseline=1.0.0")
    result.assert_outcomes(passed=37, failed=3)
    assert result.ret == 1
    section = gate_section(result)
    assert section[0] == "REGRESSION: parity@1.1.0 against parity@1.0.0"
    flipped = [line.split()[3] for line in section if "pass -> fail" in line]
    assert sorted(flipped) == sorted(f"parity::{case}" for case in REGRESSED)


def test_an_equal_candidate_passes_and_a_baseline_run_alongside_is_reused(
    evals_project: pytest.Pytester,
) -> None:
    result = evals_project.runpytest("evals", "--prompt-version=1.0.0,1.2.0",
                                     "--prompt-baseline=1.0.0")
    result.assert_outcomes(passed=80)
    assert result.ret == 0
    assert gate_section(result)[0] == "PASS: parity@1.2.0 against parity@1.0.0"


def test_the_gate_fails_a_session_whose_tests_all_passed(evals_project: pytest.Pytester) -> None:
    """Baseline recordings gone: every test passes, but the comparison is not valid."""
    shutil.rmtree(evals_project.path / "fixtures" / "parity" / "parity@1.0.0")
    result = evals_project.runpytest("evals", "--prompt-version=1.2.0", "--prompt-baseline=1.0.0")
    result.assert_outcomes(passed=40)
    assert result.ret == 2  # an invalid comparison is an error, as `promptkit gate` says
    section = gate_section(result)
    assert section[0] == "ERROR: parity@1.2.0 against parity@1.0.0"
    assert any("error: parity@1.0.0: 40 case(s) have no recording" in line for line in section)


def test_an_unknown_label_is_reported(evals_project: pytest.Pytester) -> None:
    result = evals_project.runpytest("evals", "--prompt-version=1.2.0",
                                     "--prompt-baseline=production")
    assert result.ret == 2
    assert gate_section(result)[0].startswith("ERROR: parity has no version pinned to "
                                              "'production'")
