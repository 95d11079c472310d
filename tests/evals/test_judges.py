"""Graded judges and how far to trust them: a judge scores on a scale with the case's input,
output and expected answer in view, samples and models pooled; `promptkit judge calibrate`
compares its scores with human labels (kappa, Spearman, bias, best threshold), and the gate
report flags a judge that disagrees with the humans."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from promptkit.cli import cli
from promptkit.core import AsyncClient, ModelConfig
from promptkit.evals.assertions import Observation
from promptkit.evals.calibration import calibrate, cohen_kappa, spearman
from promptkit.evals.judges import JudgeSpec
from promptkit.evals.runner import EvalRunner
from promptkit.evals.suite import load_suite
from promptkit.testing import FakeOpenAIServer, Reply

JUDGE_SYSTEM = "You are an impartial evaluator"


def test_kappa_and_spearman_on_known_values() -> None:
    assert cohen_kappa(list("aabb"), list("abbb")) == pytest.approx(0.5)
    assert cohen_kappa([1, 2, 3], [3, 2, 1], categories=[1, 2, 3], quadratic=True) == (
        pytest.approx(-1.0))
    assert cohen_kappa([1, 2, 3], [1, 2, 3], categories=[1, 2, 3], quadratic=True) == 1.0
    assert spearman([1, 1, 2], [1, 2, 3]) == pytest.approx(1.5 / 3 ** 0.5)
    assert spearman([1, 1, 1], [1, 2, 3]) is None


def test_the_best_threshold_is_the_one_whose_verdicts_match_the_humans() -> None:
    spec = JudgeSpec.from_params("apologises", threshold=4)
    # the judge is one point harsher than the humans: 3 from it means a human 4
    pairs = [(1.0, 1.0), (2.0, 2.0), (3.0, 4.0), (3.0, 5.0), (4.0, 5.0), (2.0, 3.0)]
    found = calibrate(spec, pairs)
    assert found.best_threshold == 3 and found.best_kappa == pytest.approx(1.0)
    assert found.verdict_kappa < found.best_kappa
    assert found.bias == pytest.approx((15 - 20) / 6)
    assert found.spearman is not None and found.spearman > 0.9


def judge_reply(body: dict[str, Any], index: int) -> Reply:
    """A judge model: `strict-judge` scores 5 when the answer apologises, else 1;
    `lenient-judge` scores 5 whatever it reads."""
    text = body["messages"][-1]["content"]
    answer = text.split("Answer to grade:\n", 1)[1]
    score = 5 if body["model"] == "lenient-judge" or "sorry" in answer.lower() else 1
    return Reply(content={"reasoning": f"seen: {answer[:20]}", "score": score})


def test_a_graded_judge_sees_input_output_and_expectation_and_pools_its_samples() -> None:
    spec = JudgeSpec.from_params("The reply apologises.", name="apology", samples=2,
                                 models=["strict-judge", "lenient-judge"], aggregate="median",
                                 threshold=4)
    seen: list[dict[str, Any]] = []

    def handler(body: dict[str, Any], index: int) -> Reply:
        seen.append(body)
        return judge_reply(body, index)

    async def grade(server: FakeOpenAIServer) -> Any:
        configs = [ModelConfig(name=n, model=n, base_url=server.base_url, api_key_env="")
                   for n in ("strict-judge", "lenient-judge")]
        async with AsyncClient(configs) as client:
            observation = Observation(output={"reply": "Read the FAQ."},
                                      variables={"message": "My parcel is late"},
                                      expected={"tone": "apologetic"})
            return await EvalRunner(client)._judge(spec, observation)

    with FakeOpenAIServer(handler=handler) as server:
        outcome = asyncio.run(grade(server))
    assert len(seen) == 4  # 2 models x 2 samples
    user = seen[0]["messages"][-1]["content"]
    assert "My parcel is late" in user and "apologetic" in user and "Read the FAQ." in user
    assert {b["temperature"] for b in seen} == {0.7}  # several samples: some spread
    assert [s["score"] for s in outcome.actual] == [1, 1, 5, 5]
    assert all(s["reasoning"].startswith("seen:") for s in outcome.actual)
    assert outcome.passed is False  # median 3 < 4
    assert outcome.score == pytest.approx(0.5) and outcome.path == "apology"
    assert "3 on 1..5, below 4 (median of 1 (strict-judge), 1 (strict-judge)" in outcome.message


PROMPT = """\
---
name: support
version: {version}
model: main
inputs: {{message: string}}
---
system:
You answer customer messages. {wording}
user:
{{{{ message }}}}
"""
SUITE = """\
prompt: support
model: main
assert:
  - judge: {rubric: "The reply apologises for the trouble.", name: apology,
            models: [strict-judge]}
  - judge: {rubric: "The reply is helpful.", name: helpful, models: [lenient-judge]}
cases:
"""
MESSAGES = ["My parcel is late", "The box was broken", "Wrong size sent", "No invoice",
            "Charged twice", "App crashes"]
LABELS = [("case-0", "Sorry about that, a new one is on its way.", 5),
          ("case-1", "Read the FAQ.", 1), ("case-2", "So sorry! We will fix it today.", 5),
          ("case-3", "Not our problem.", 1), ("case-4", "Sorry, refund sent.", 4),
          ("case-5", "Try again later.", 2)]


def model_reply(body: dict[str, Any], index: int) -> Reply:
    if body["messages"][0]["content"].startswith(JUDGE_SYSTEM):
        return judge_reply(body, index)
    rude = "Be brief." in body["messages"][0]["content"] and "late" not in json.dumps(body)
    return Reply(content="Read the FAQ." if rude else "Sorry about that, we are on it.")


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, Any]]:
    with FakeOpenAIServer(handler=model_reply) as server:
        (tmp_path / "pyproject.toml").write_text("".join(
            f'[tool.promptkit.models.{name}]\nmodel = "{name}"\nbase_url = "{server.base_url}"'
            f'\napi_key_env = ""\ncapability = "json_schema"\n\n'
            for name in ("main", "strict-judge", "lenient-judge")))
        for version, wording in (("1.0.0", "Apologise first."), ("1.1.0", "Be brief.")):
            path = tmp_path / "prompts" / "support" / f"{version}.prompt"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(PROMPT.format(version=version, wording=wording))
        cases = "".join(f"  - id: case-{i}\n    vars: {{message: {m!r}}}\n"
                        f"    expect: {{tone: apologetic}}\n" for i, m in enumerate(MESSAGES))
        (tmp_path / "evals").mkdir()
        (tmp_path / "evals" / "support.yaml").write_text(SUITE + cases)
        (tmp_path / "evals" / "support.labels.jsonl").write_text("".join(
            json.dumps({"case": c, "output": o, "human": h, "judge": j}) + "\n"
            for j in ("apology", "helpful") for c, o, h in LABELS))
        monkeypatch.setenv("PROMPTKIT_ACTOR", "tester")
        yield tmp_path, server


def promptkit(root: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["--project", str(root), *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_calibration_reports_kappa_and_the_best_threshold_and_replays_offline(
    project: tuple[Path, Any],
) -> None:
    root, server = project
    code, out, err = promptkit(root, "judge", "calibrate", "support", "--record", "all")
    assert code == 1, out + err  # one judge disagrees with the humans
    apology, helpful = out.splitlines()
    assert apology.startswith("judge 'apology': verdict kappa 1.00, weighted kappa")
    assert "best threshold" in apology and "6 labels" in apology
    assert helpful.startswith("judge 'helpful': verdict kappa 0.00 (disagrees with the humans)")
    stored = json.loads((root / "evals" / "support.calibration.json").read_text())
    assert stored["apology"]["verdict_kappa"] == 1.0 and stored["helpful"]["bias"] > 1
    judged = len(server.requests)
    server.stop()  # offline: every judge call comes from the recordings
    again = promptkit(root, "judge", "calibrate", "support")
    assert again[0] == 1 and again[1] == out and judged == 12


def test_the_gate_report_shows_each_judge_with_its_calibration_and_flags_disagreement(
    project: tuple[Path, Any],
) -> None:
    root, _ = project
    promptkit(root, "judge", "calibrate", "support", "--record", "all")
    code, out, err = promptkit(root, "gate", "support", "--candidate", "1.1.0",
                               "--baseline", "1.0.0", "--record", "all")
    assert code in (0, 1, 3), out + err
    apology = next(line for line in out.splitlines() if "Judge 'apology'" in line)
    helpful = next(line for line in out.splitlines() if "Judge 'helpful'" in line)
    assert "passed 6/6 (baseline), 1/6 (candidate)" in apology
    assert "calibrated: verdict kappa 1.00 over 6 labels" in apology
    assert helpful.lstrip("- ").startswith("⚠ Judge 'helpful'")
    assert "disagrees with the humans" in helpful


def test_an_uncalibrated_or_stale_judge_is_flagged(project: tuple[Path, Any]) -> None:
    root, _ = project
    promptkit(root, "judge", "calibrate", "support", "--record", "all")
    suite_path = root / "evals" / "support.yaml"
    suite_path.write_text(suite_path.read_text().replace("apologises for the trouble",
                                                         "says sorry"))
    _, out, _ = promptkit(root, "gate", "support", "--candidate", "1.1.0",
                          "--baseline", "1.0.0", "--record", "all")
    assert "⚠ Judge 'apology' (support)" in out and "calibration stale" in out
    assert load_suite(suite_path).cases[0].assertions[0].spec.rubric.endswith("says sorry.")
