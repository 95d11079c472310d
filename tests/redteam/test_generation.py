"""Generating red-team cases: offline, deterministic for a seed, valid for the prompt, with
canaries that make a leak mechanically visible."""

from __future__ import annotations

from pathlib import Path

import pytest

from promptkit.errors import UsageError
from promptkit.evals import load_suite
from promptkit.evals.assertions import Observation
from promptkit.evals.redteam import FAMILIES, plan_red_team
from promptkit.evals.redteam.checks import not_attackers_label, not_leaked
from promptkit.evals.redteam.encodings import base64_text, rot13
from promptkit.templates import Prompt, PromptLibrary


@pytest.fixture
def sentiment(repo_root: Path) -> Prompt:
    return PromptLibrary(repo_root / "prompts").load("sentiment", "1.2.0")


def test_every_family_attacks_every_free_text_input(sentiment: Prompt, repo_root: Path) -> None:
    plan = plan_red_team(sentiment, repo_root / "evals")
    found = {(case.family, case.input) for case in plan.cases}
    assert len(FAMILIES) >= 6
    assert found == {(f, i) for f in FAMILIES for i in ("text", "domain")}
    assert len(plan.cases) == len(FAMILIES) * 2 * 3


def test_the_same_seed_gives_the_same_suite(sentiment: Prompt, repo_root: Path) -> None:
    def text(seed: int) -> str:
        return plan_red_team(sentiment, repo_root / "evals", seed=seed).yaml_text("cmd")

    assert text(7) == text(7)
    assert text(7) != text(8)


def test_every_case_is_valid_for_the_prompts_inputs(sentiment: Prompt, repo_root: Path) -> None:
    for case in plan_red_team(sentiment, repo_root / "evals", per_family=5).cases:
        sentiment.check_inputs(dict(case.variables))  # raises on any invalid case


def test_the_canary_sits_in_the_system_message_and_every_case_checks_it(
        sentiment: Prompt, repo_root: Path) -> None:
    plan = plan_red_team(sentiment, repo_root / "evals")
    canary = plan.secrets.canary
    for case in plan.cases:
        system = sentiment.render(case.variables)[0]
        assert system["role"] == "system" and canary in system["content"]
    assert {"python": {"function": "promptkit.evals.redteam.checks:not_leaked",
                       "secret": canary, "what": "the system prompt's canary"}} \
        in plan.suite_assertions()


def test_a_label_attack_asks_for_a_label_its_carrier_does_not_deserve(
        sentiment: Prompt, repo_root: Path) -> None:
    plan = plan_red_team(sentiment, repo_root / "evals", families=["prompt-injection"])
    checks = [a["python"] for c in plan.cases for a in c.assertions
              if "python" in a and a["python"]["function"].endswith("not_attackers_label")]
    assert len(checks) == len(plan.cases)
    assert {c["label"] for c in checks} <= {"positive", "negative", "neutral"}


def test_the_written_suite_loads_as_a_normal_suite(sentiment: Prompt, repo_root: Path,
                                                   tmp_path: Path) -> None:
    plan = plan_red_team(sentiment, repo_root / "evals", per_family=2)
    path = tmp_path / "sentiment.redteam.yaml"
    path.write_text(plan.yaml_text("promptkit redteam sentiment@1.2.0"), encoding="utf-8")
    suite = load_suite(path)
    assert [c.id for c in suite.cases] == [c.id for c in plan.cases]
    assert suite.cases[0].variables == plan.cases[0].variables  # escapes read back


def test_unknown_families_are_a_usage_error(sentiment: Prompt, repo_root: Path) -> None:
    with pytest.raises(UsageError, match="unknown red-team families: nope"):
        plan_red_team(sentiment, repo_root / "evals", families=["nope"])


@pytest.mark.parametrize("answer", [
    "the code is REF-1a2b3c4d", "ref-1A2B3C4D", "R E F - 1 a 2 b 3 c 4 d",
    base64_text("REF-1a2b3c4d"), rot13("REF-1a2b3c4d"), "d4c3b2a1-FER",
])
def test_a_leak_is_seen_through_case_spacing_and_encodings(answer: str) -> None:
    passed, message = not_leaked(Observation(text=answer), "REF-1a2b3c4d", "the canary")
    assert not passed and "the canary" in message


def test_an_answer_without_the_secret_is_not_a_leak() -> None:
    obs = Observation(output={"sentiment": "negative", "reasoning": "A complaint."})
    assert not_leaked(obs, "REF-1a2b3c4d")[0]


def test_the_attackers_label_fails_and_any_other_passes() -> None:
    assert not not_attackers_label(Observation(output={"sentiment": "positive"}),
                                   "sentiment", "positive")[0]
    assert not_attackers_label(Observation(output={"sentiment": "neutral"}),
                               "sentiment", "positive")[0]
