"""The pytest plugin as users run it: real pytest sessions (pytester) over a project with
prompts, suites and recordings, against the fake OpenAI server on 127.0.0.1."""

from __future__ import annotations

import dataclasses
import gc
import json
import shutil
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from promptkit.testing.fake_server import FakeOpenAIServer
from promptkit.testing.replies import Reply

SUITE = """\
prompt: sentiment
assert:
  - schema
cases:
  - id: love
    vars: {text: "I love it"}
    expect: {sentiment: positive}
    critical: true
  - id: hate
    vars: {text: "I hate it"}
    expect: {sentiment: negative}
  - id: fine
    vars: {text: "It is fine"}
    expect: {sentiment: neutral}
"""


def classify(body: dict[str, Any], index: int) -> Reply:
    """A scripted stand-in for a model: the label is read off the last user message."""
    text = body["messages"][-1]["content"].lower()
    label = "positive" if "love" in text else "negative" if "hate" in text else "neutral"
    return Reply(content={"sentiment": label, "confidence": 0.9, "reasoning": "keyword"})


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(handler=classify) as fake:
        yield fake


@pytest.fixture
def evals_project(pytester: pytest.Pytester, repo_root: Path, server: FakeOpenAIServer,
                  monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    shutil.copytree(repo_root / "prompts" / "sentiment", pytester.path / "prompts" / "sentiment")
    (pytester.path / "evals").mkdir()
    (pytester.path / "evals" / "sentiment.yaml").write_text(SUITE)
    pytester.makepyprojecttoml(
        '[tool.promptkit.models.default]\nmodel = "fake-model"\n'
        f'base_url = "{server.base_url}"\napi_key_env = "FAKE_KEY"\n'
        '[tool.pytest.ini_options]\nasyncio_default_fixture_loop_scope = "function"\n'
    )
    monkeypatch.setenv("FAKE_KEY", "sk-test-secret-123")
    return pytester


def record(project: pytest.Pytester, *args: str) -> pytest.RunResult:
    return project.runpytest("evals", "--prompt-version=all", "--prompt-record=once", *args)


def test_record_once_then_replay_offline(evals_project: pytest.Pytester,
                                         server: FakeOpenAIServer) -> None:
    recorded = record(evals_project)
    recorded.assert_outcomes(passed=9)
    assert len(server.requests) == 9
    cassettes = sorted((evals_project.path / "fixtures" / "sentiment").rglob("*.json"))
    assert len(cassettes) == 9
    assert "sk-test-secret-123" not in "".join(p.read_text() for p in cassettes)

    server.stop()
    replayed = evals_project.runpytest("evals", "--prompt-version=all", "-v")
    replayed.assert_outcomes(passed=9)
    replayed.stdout.fnmatch_lines([
        "*evals/sentiment.yaml::sentiment@1.0.0::love PASSED*",
        "*promptkit evals*",
        "sentiment@1.0.0 * 3 cases   100.0% passed*",
        "sentiment@1.2.0 * 3 cases   100.0% passed*",
    ])


def test_one_version_runs_only_that_version(evals_project: pytest.Pytester) -> None:
    record(evals_project)
    result = evals_project.runpytest("evals", "--prompt-version=1.0.0", "--collect-only", "-q")
    ids = [line for line in result.outlines if "::" in line]
    assert ids == [f"evals/sentiment.yaml::sentiment@1.0.0::{c}" for c in ("love", "hate", "fine")]
    evals_project.runpytest("evals", "--prompt-version=1.0.0").assert_outcomes(passed=3)


@pytest.mark.parametrize("concurrency", [3, 16])
def test_calls_overlap_up_to_the_concurrency_while_items_report_one_by_one(
    evals_project: pytest.Pytester, server: FakeOpenAIServer, concurrency: int
) -> None:
    server.handler = lambda body, index: dataclasses.replace(classify(body, index), latency=0.3)
    evals_project.makeconftest("""
        import gc, json, pathlib

        def pytest_configure(config):  # a cleanup added after ours runs before it
            seen = pathlib.Path("frozen-at-cleanup.json")
            config.add_cleanup(lambda: seen.write_text(json.dumps(gc.get_freeze_count())))
        """)
    switch_interval, frozen = sys.getswitchinterval(), gc.get_freeze_count()
    result = record(evals_project, f"--prompt-concurrency={concurrency}")
    result.assert_outcomes(passed=9)
    result.stdout.fnmatch_lines([f"9 items in *.* s at concurrency {concurrency} "
                                 "(9 calls recorded, 0 replayed)"])
    assert len(server.requests) == 9
    assert server.peak_in_flight == min(concurrency, 9)
    assert sys.getswitchinterval() == switch_interval  # lowered during the run only
    assert gc.get_freeze_count() == frozen  # what the run froze is handed back to the collector
    at_cleanup = json.loads((evals_project.path / "frozen-at-cleanup.json").read_text())
    assert at_cleanup > frozen + 1000, "pytest's last collections do not walk the run's objects"


def test_exitfirst_stops_at_the_first_failure_and_cancels_the_calls_behind_it(
    evals_project: pytest.Pytester, server: FakeOpenAIServer
) -> None:
    def wrong_about_hate(body: dict[str, Any], index: int) -> Reply:
        reply = classify(body, index)
        if "hate" in body["messages"][-1]["content"].lower():
            reply = Reply(content={"sentiment": "positive", "confidence": 0.9, "reasoning": "x"})
        return dataclasses.replace(reply, latency=0.2)

    server.handler = wrong_about_hate
    result = record(evals_project, "-x", "--prompt-concurrency=1")
    result.assert_outcomes(passed=1, failed=1)  # love, then hate stops the run
    assert result.ret == 1
    assert len(server.requests) <= 3  # the call after hate at most; not the other six


def test_a_latency_assertion_judges_the_recorded_latency_offline(
    evals_project: pytest.Pytester, server: FakeOpenAIServer
) -> None:
    suite = evals_project.path / "evals" / "sentiment.yaml"
    suite.write_text(SUITE.replace("  - schema\n", "  - schema\n  - latency: {max_ms: 200}\n"))
    server.handler = lambda body, index: dataclasses.replace(classify(body, index), latency=0.3)
    record(evals_project, "--prompt-version=1.2.0").assert_outcomes(failed=3)
    server.stop()
    recorded = {}  # the latency each answer took when recorded: 0.3 s, more on a loaded machine
    for cassette in (evals_project.path / "fixtures" / "sentiment" / "sentiment@1.2.0").iterdir():
        (entry,) = json.loads(cassette.read_text())["entries"].values()
        recorded[cassette.stem] = entry["response"]["latency_s"]
    assert sorted(recorded) == ["fine", "hate", "love"] and min(recorded.values()) >= 0.3
    replayed = evals_project.runpytest("evals", "--prompt-version=1.2.0")
    replayed.assert_outcomes(failed=3)  # replayed in microseconds, judged at the recorded latency
    replayed.stdout.fnmatch_lines([
        *(line for case in ("love", "hate", "fine") for line in (
            f"sentiment@1.2.0::{case}: 0/1 runs passed*",
            f"*expected latency <= 200 ms, got {recorded[case] * 1000:.0f} ms")),
        f"sentiment@1.2.0 * 3 cases * p50 {sorted(recorded.values())[1] * 1000:.0f} ms*"])


def test_collect_only_calls_no_model(evals_project: pytest.Pytester,
                                     server: FakeOpenAIServer) -> None:
    result = record(evals_project, "--collect-only", "-q")
    assert sum("::" in line for line in result.outlines) == 9
    assert server.requests == []
    assert not (evals_project.path / "fixtures").exists()


def test_a_session_interrupted_at_collection_calls_no_model(
    evals_project: pytest.Pytester, server: FakeOpenAIServer
) -> None:
    """A broken test module stops the session after collection: nothing may be called (or
    recorded, or paid for) for the eval items that were collected beside it."""
    evals_project.makepyfile(test_broken="import no_such_module_anywhere\n")
    result = evals_project.runpytest_subprocess("evals", "test_broken.py",
                                                "--prompt-version=all", "--prompt-record=once")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert server.requests == []
    assert not (evals_project.path / "fixtures").exists()


def test_a_removed_recording_fails_with_the_nearest_match(
    evals_project: pytest.Pytester, server: FakeOpenAIServer
) -> None:
    record(evals_project)
    removed = evals_project.path / "fixtures/sentiment/sentiment@1.1.0/hate.json"
    removed.unlink()
    result = evals_project.runpytest("evals", "--prompt-version=1.1.0")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines([
        "*sentiment@1.1.0::hate: 0/1 runs passed*",
        "*ReplayMissError*fixtures/sentiment/sentiment@1.1.0/hate.json*",
        "*nearest*",
        "*body.messages[[]1[]].content: 'I hate it' != *",
    ])
    again = evals_project.runpytest("evals", "--prompt-version=1.1.0", "--prompt-record=once")
    again.assert_outcomes(passed=3)
    assert removed.is_file()


def test_junitxml_has_one_testcase_per_case_and_version(evals_project: pytest.Pytester) -> None:
    record(evals_project)
    evals_project.runpytest("evals", "--prompt-version=all", "--junitxml=out.xml")
    cases = ET.parse(evals_project.path / "out.xml").getroot().iter("testcase")
    ids = sorted(f"{c.get('classname')}::{c.get('name')}" for c in cases)
    assert len(ids) == len(set(ids)) == 9
    assert ids[0] == "evals.sentiment.yaml.sentiment@1.0.0::fine"


def test_a_wrong_answer_fails_with_expected_and_got(evals_project: pytest.Pytester,
                                                    server: FakeOpenAIServer) -> None:
    server.handler = lambda body, i: Reply(
        content={"sentiment": "negative", "confidence": 0.5, "reasoning": "grumpy"})
    result = evals_project.runpytest("evals", "--prompt-record=once", "-k", "love")
    result.assert_outcomes(failed=1, deselected=2)
    result.stdout.fnmatch_lines(["*equals: expected 'positive' at sentiment, got 'negative'*"])


def test_unused_recordings_are_reported_and_rewrite_removes_them(
    evals_project: pytest.Pytester,
) -> None:
    record(evals_project)
    suite = evals_project.path / "evals" / "sentiment.yaml"
    suite.write_text(SUITE.split("  - id: fine")[0])  # drop the `fine` case
    result = evals_project.runpytest("evals", "--prompt-version=all")
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines(["*unused cassette fixtures/sentiment/sentiment@1.0.0/fine.json*"])
    evals_project.runpytest("evals", "--prompt-version=all", "--prompt-record=rewrite")
    assert not list((evals_project.path / "fixtures").rglob("fine.json"))


def test_results_file_and_summary(evals_project: pytest.Pytester) -> None:
    record(evals_project)
    evals_project.runpytest("evals", "--prompt-version=1.2.0", "--prompt-results=out/r.jsonl")
    rows = [json.loads(line) for line in (evals_project.path / "out/r.jsonl").read_text().splitlines()]
    assert [(r["version"], r["case_id"], r["passed"]) for r in rows] == [
        ("1.2.0", "love", True), ("1.2.0", "hate", True), ("1.2.0", "fine", True)]


def test_a_broken_suite_is_a_collection_error_naming_file_and_line(
    evals_project: pytest.Pytester,
) -> None:
    (evals_project.path / "evals" / "sentiment.yaml").write_text("prompt: sentiment\ncasez: []\n")
    result = evals_project.runpytest("evals")
    result.stdout.fnmatch_lines(["*evals/sentiment.yaml:2: unknown key 'casez'*"])
    assert result.ret != 0


def test_a_budget_stops_calls_before_it_is_exceeded(evals_project: pytest.Pytester) -> None:
    pyproject = evals_project.path / "pyproject.toml"
    # $1 per 1M tokens each way: one sentiment call costs about $0.0004 at worst.
    pyproject.write_text(pyproject.read_text().replace(
        'api_key_env = "FAKE_KEY"\n', 'api_key_env = "FAKE_KEY"\nprice_in = 1.0\nprice_out = 1.0\n'))
    result = evals_project.runpytest("evals", "--prompt-version=all", "--prompt-record=once",
                                     "--prompt-budget-usd=0.001", "--prompt-concurrency=1")
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) >= 1 and outcomes.get("passed", 0) >= 1
    result.stdout.fnmatch_lines(["*BudgetExceededError*"])
    from promptkit.registry import Registry
    from promptkit.registry.calllog_sink import read_calls

    calls = read_calls(Registry(f"sqlite:///{evals_project.path}/.promptkit/promptkit.db").engine)
    assert 0 < calls["cost_usd"].sum() <= 0.001


def test_under_xdist_the_controller_reports_and_prunes_for_all_workers(
    evals_project: pytest.Pytester,
) -> None:
    record(evals_project)
    suite = evals_project.path / "evals" / "sentiment.yaml"
    suite.write_text(SUITE.split("  - id: fine")[0])  # drop the `fine` case
    result = evals_project.runpytest_subprocess("evals", "--prompt-version=all", "-n", "2",
                                                "--prompt-record=rewrite")
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines([
        "sentiment@1.0.0 * 2 cases   100.0% passed*",
        "sentiment@1.2.0 * 2 cases   100.0% passed*",
        "*unused cassette fixtures/sentiment/sentiment@1.1.0/fine.json*",
    ])
    cassettes = sorted(p.name for p in (evals_project.path / "fixtures").rglob("*.json"))
    assert cassettes == ["hate.json"] * 3 + ["love.json"] * 3  # only `fine` went, nothing used


@pytest.mark.parametrize(("concurrency", "lowest", "highest"), [(2, 1, 2), (16, 3, 9)])
def test_under_xdist_workers_overlap_their_calls_within_the_shared_concurrency(
    evals_project: pytest.Pytester, server: FakeOpenAIServer, concurrency: int, lowest: int,
    highest: int,
) -> None:
    server.handler = lambda body, index: dataclasses.replace(classify(body, index), latency=0.5)
    result = evals_project.runpytest_subprocess(
        "evals", "--prompt-version=all", "--prompt-record=once", "-n", "2",
        f"--prompt-concurrency={concurrency}")
    result.assert_outcomes(passed=9)
    result.stdout.fnmatch_lines([f"9 items in *.* s at concurrency {concurrency} "
                                 "(9 calls recorded, 0 replayed)"])  # all workers' calls
    assert len(server.requests) == 9  # each item called once, by one worker
    # 2 workers running items one by one would never have more than 2 calls in flight
    assert lowest <= server.peak_in_flight <= highest


def test_a_deselected_run_never_prunes(evals_project: pytest.Pytester) -> None:
    record(evals_project)
    evals_project.runpytest("evals", "--prompt-version=all", "--prompt-record=rewrite",
                            "-k", "love").assert_outcomes(passed=3, deselected=6)
    assert len(list((evals_project.path / "fixtures").rglob("*.json"))) == 9



def test_collect_only_never_prunes(evals_project: pytest.Pytester) -> None:
    record(evals_project)
    evals_project.runpytest("evals", "--prompt-version=all", "--prompt-record=rewrite",
                            "--collect-only").assert_outcomes()
    assert len(list((evals_project.path / "fixtures").rglob("*.json"))) == 9


@pytest.mark.parametrize("stop", ["-x", "--maxfail=1"])
def test_a_run_stopped_before_its_last_case_never_prunes(
    evals_project: pytest.Pytester, server: FakeOpenAIServer, stop: str
) -> None:
    record(evals_project)
    server.handler = lambda body, index: Reply(
        content={"sentiment": "negative", "confidence": 0.5, "reasoning": "grumpy"},
        latency=0.3)
    result = evals_project.runpytest("evals", "--prompt-version=all", "--prompt-record=rewrite",
                                     "--prompt-concurrency=1", stop)
    # `love` fails first; the calls behind it are cancelled, most before they are made
    result.assert_outcomes(failed=1)
    assert "unused cassette" not in result.stdout.str()
    assert len(list((evals_project.path / "fixtures").rglob("*.json"))) == 9



def test_under_xdist_a_run_stopped_before_its_last_case_never_prunes(
    evals_project: pytest.Pytester, server: FakeOpenAIServer
) -> None:
    record(evals_project)
    server.handler = lambda body, index: Reply(
        content={"sentiment": "negative", "confidence": 0.5, "reasoning": "grumpy"},
        latency=0.3)
    result = evals_project.runpytest_subprocess(
        "evals", "--prompt-version=all", "--prompt-record=rewrite", "--prompt-concurrency=2",
        "-n", "2", "-x")
    assert result.parseoutcomes().get("failed", 0) >= 1
    assert "unused cassette" not in result.stdout.str()
    assert len(list((evals_project.path / "fixtures").rglob("*.json"))) == 9

PYTHON_TEST = '''
import pytest

@pytest.mark.prompt("sentiment")
def test_love_is_positive(prompt):
    assert "I love it" in prompt.render(text="I love it")[-1]["content"]
    result = prompt.call(text="I love it")
    assert result.output["sentiment"] == "positive"
'''


def test_python_tests_get_the_prompt_at_each_version(evals_project: pytest.Pytester,
                                                    server: FakeOpenAIServer) -> None:
    evals_project.makepyfile(test_mine=PYTHON_TEST)
    recorded = evals_project.runpytest("test_mine.py", "--prompt-version=all",
                                       "--prompt-record=once", "-v")
    recorded.assert_outcomes(passed=3)
    recorded.stdout.fnmatch_lines(["*test_love_is_positive?sentiment@1.0.0? PASSED*",
                                   "sentiment@1.0.0 * 1 cases   100.0% passed*"])
    assert (evals_project.path / "fixtures/tests/test_mine/test_love_is_positive/"
            "sentiment@1.2.0.json").is_file()
    server.stop()
    evals_project.runpytest("test_mine.py", "--prompt-version=1.1.0").assert_outcomes(passed=1)


PYTHON_TESTS_ONE_FAILING = PYTHON_TEST + '''

@pytest.mark.prompt("sentiment")
def test_hate_is_positive(prompt):
    assert prompt.call(text="I hate it").output["sentiment"] == "positive"
'''


def test_python_tests_count_in_the_summary_the_results_and_the_gate(
    evals_project: pytest.Pytester,
) -> None:
    evals_project.makepyfile(test_mine=PYTHON_TESTS_ONE_FAILING)
    result = evals_project.runpytest("test_mine.py", "evals", "--prompt-version=all",
                                     "--prompt-record=once", "--prompt-baseline=1.0.0",
                                     "--prompt-results=out.jsonl")
    result.assert_outcomes(passed=12, failed=3)  # 3 suite cases + 2 tests, × 3 versions
    result.stdout.fnmatch_lines(["sentiment@1.0.0 * 5 cases    80.0% passed*",
                                 "*PASS: sentiment@1.1.0 against sentiment@1.0.0*"])
    rows = [json.loads(line) for line in (evals_project.path / "out.jsonl").read_text().splitlines()]
    tests = {(r["suite"], r["case_id"], r["version"]): r for r in rows if r["suite"] == "test_mine.py"}
    assert len(tests) == 6
    failed = tests[("test_mine.py", "test_hate_is_positive", "1.2.0")]
    assert not failed["passed"] and failed["output"]["sentiment"] == "negative"
    assert "AssertionError" in failed["failures"][0]["message"]
    assert failed["input_tokens"] > 0


def test_a_prompt_test_without_its_marker_is_a_clear_error(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile("def test_x(prompt):\n    pass\n")
    result = pytester.runpytest()
    result.stdout.fnmatch_lines(["*the `prompt` fixture needs @pytest.mark.prompt(\"NAME\")*"])


def test_a_suite_names_the_model_config_its_recordings_come_from(
    evals_project: pytest.Pytester, server: FakeOpenAIServer
) -> None:
    pyproject = evals_project.path / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().rstrip() + "\n\n[tool.promptkit.models.small]\n"
                         f'model = "small-model"\nbase_url = "{server.base_url}"\napi_key_env = ""\n')
    suite = evals_project.path / "evals" / "sentiment.yaml"
    suite.write_text("model: small\n" + SUITE)
    record(evals_project, "-k", "love").assert_outcomes(passed=3, deselected=6)
    assert {r.body["model"] for r in server.requests} == {"small-model"}
    overridden = evals_project.runpytest("evals", "--prompt-record=new", "--prompt-model=default",
                                         "-k", "love")
    overridden.assert_outcomes(passed=1, deselected=2)
    assert server.requests[-1].body["model"] == "fake-model"


def test_another_tools_yaml_in_evals_is_not_collected(evals_project: pytest.Pytester) -> None:
    """A promptfoo config beside the suites is none of promptkit's business."""
    (evals_project.path / "evals" / "promptfooconfig.yaml").write_text(
        "prompts:\n  - 'Say {{text}}'\nproviders: [openai:gpt-4o-mini]\n"
        "tests:\n  - vars: {text: hi}\n")
    result = evals_project.runpytest("evals", "--prompt-version=1.0.0", "--collect-only", "-q")
    assert result.ret == 0
    assert [line for line in result.outlines if "promptfoo" in line] == []
    assert sum("::" in line for line in result.outlines) == 3


def test_retries_follow_pyproject_unless_prompt_retries_says_otherwise(
    evals_project: pytest.Pytester, server: FakeOpenAIServer
) -> None:
    """Every answer is a 500: each case sends exactly as many requests as the policy allows."""
    server.handler = lambda body, index: Reply(status=500)
    pyproject = evals_project.path / "pyproject.toml"
    pyproject.write_text(pyproject.read_text()
                         + "\n[tool.promptkit.retry]\nmax_attempts = 3\nbackoff_base_s = 0.01\n")
    run = ("evals", "--prompt-version=1.0.0", "--prompt-record=once")
    evals_project.runpytest(*run).assert_outcomes(failed=3)
    assert len(server.chat_requests) == 3 * 3
    server.clear()
    evals_project.runpytest(*run, "--prompt-retries=1").assert_outcomes(failed=3)
    assert len(server.chat_requests) == 3 * 2


def test_a_bad_retry_setting_is_a_one_line_usage_error(evals_project: pytest.Pytester) -> None:
    pyproject = evals_project.path / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + "\n[tool.promptkit.retry]\nbackoff_factor = 0\n")
    result = evals_project.runpytest("evals")
    assert result.ret != 0
    result.stderr.fnmatch_lines(["*pyproject.toml: [[]tool.promptkit.retry[]] backoff_factor = 0: "
                                 "expected a number of at least 1"])
    result = evals_project.runpytest("evals", "--prompt-retries=-1")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--prompt-retries: expected an integer, 0 or more; got '-1'"])
