"""A reviewed call becomes a regression case in the suite's dataset (JSONL, JSON, CSV) or its
own `cases:`, which the next `pytest evals` collects; a bad append leaves the file as it was."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from promptkit.errors import UsageError
from promptkit.evals.dataset_append import add_to_dataset, append_case
from promptkit.evals.reviews import Review, review_queue, reviews_of, save_review
from promptkit.evals.suite import load_suite
from promptkit.registry import Registry

REPO = Path(__file__).resolve().parents[2]
SUITE = "prompt: sentiment\nassert:\n  - schema\n"


def suite_with(folder: Path, dataset: str | None, rows: str = "") -> Path:
    path = folder / "sentiment.yaml"
    if dataset:
        (folder / dataset).write_text(rows, encoding="utf-8")
        path.write_text(SUITE + f"dataset: {dataset}\n", encoding="utf-8")
    else:
        path.write_text(SUITE + "cases:\n  - id: first\n    vars: {text: fine}\n",
                        encoding="utf-8")
    return path


CASE = {"id": "new", "vars": {"text": "It broke, twice"}, "expect": {"sentiment": "negative"}}


@pytest.mark.parametrize(("dataset", "rows"), [
    ("rows.jsonl", '{"id": "first", "vars": {"text": "fine"}}'),  # no final newline
    ("rows.json", '[{"id": "first", "vars": {"text": "fine"}}]'),
    ("rows.csv", "id,text,expect.sentiment\nfirst,fine,positive\n"),
    (None, ""),
])
def test_the_case_is_appended_and_read_back(tmp_path: Path, dataset: str | None,
                                            rows: str) -> None:
    path = suite_with(tmp_path, dataset, rows)
    added = append_case(load_suite(path), CASE)
    assert added.path == (tmp_path / dataset if dataset else path)
    reloaded = {c.id: c for c in load_suite(path).cases}
    assert list(reloaded) == ["first", "new"]
    assert reloaded["new"].variables == {"text": "It broke, twice"}
    assert reloaded["new"].expect == {"sentiment": "negative"}


def test_a_taken_id_or_a_suite_ending_elsewhere_is_refused_unchanged(tmp_path: Path) -> None:
    path = suite_with(tmp_path, None)
    with pytest.raises(UsageError, match="already"):
        append_case(load_suite(path), {**CASE, "id": "first"})
    path.write_text(path.read_text() + "repeat: 1\n")
    before = path.read_text()
    with pytest.raises(UsageError, match="last key"):
        append_case(load_suite(path), CASE)
    assert path.read_text() == before


def test_a_csv_without_the_column_is_refused(tmp_path: Path) -> None:
    path = suite_with(tmp_path, "rows.csv", "id,text\nfirst,fine\n")
    with pytest.raises(UsageError, match=r"no column for expect\.sentiment"):
        append_case(load_suite(path), CASE)
    assert (tmp_path / "rows.csv").read_text() == "id,text\nfirst,fine\n"


@pytest.fixture
def logged(tmp_path: Path) -> Registry:
    sys.path.insert(0, str(REPO / "tests" / "view"))
    try:
        from view_helpers import seed_calls
    finally:
        sys.path.pop(0)
    registry = Registry(f"sqlite:///{tmp_path / 'db.sqlite'}")
    registry.migrate()
    seed_calls(registry, count=12)
    return registry


def test_a_call_needs_a_review_and_its_inputs(logged: Registry, tmp_path: Path) -> None:
    suite = load_suite(suite_with(tmp_path, "rows.jsonl", "{\"id\": \"first\", \"vars\": {\"text\": \"ok\"}}\n"))
    with pytest.raises(UsageError, match="review it first"):
        add_to_dataset(logged, "call0000002", suite, {"sentiment": "neutral"})
    save_review(logged, Review("call", "call0000002", "fail", "ana"))
    added = add_to_dataset(logged, "call0000002", suite, {"sentiment": "neutral"},
                           critical=True)
    assert added.case == {"id": "call-call0000002", "vars": {"text": "review number 2"},
                          "expect": {"sentiment": "neutral"}, "critical": True}
    with pytest.raises(UsageError, match="no logged call"):
        add_to_dataset(logged, "nope", suite, {})


def test_the_queue_is_a_seeded_sample_per_version_without_reviewed_calls(logged: Registry) -> None:
    first = review_queue(logged, per_version=2, seed=3)
    assert [(c.prompt, c.version) for c in first] == [("sentiment", "1.0.0")] * 2 + [
        ("sentiment", "1.1.0")] * 2
    assert review_queue(logged, per_version=2, seed=3) == first
    save_review(logged, Review("call", first[0].id, "pass", "ana"))
    assert first[0].id not in {c.id for c in review_queue(logged, per_version=2, seed=3)}
    assert [r.verdict for r in reviews_of(logged, "call", first[0].id)] == ["pass"]


def test_the_next_pytest_evals_run_collects_the_added_case(logged: Registry,
                                                           tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(REPO / "prompts", project / "prompts")
    shutil.copytree(REPO / "evals", project / "evals")
    (project / "pyproject.toml").write_text('[project]\nname = "demo"\n')
    suite = load_suite(project / "evals" / "sentiment.yaml")
    save_review(logged, Review("call", "call0000005", "fail", "ana", comment="neutral, really"))
    add_to_dataset(logged, "call0000005", suite, {"sentiment": "neutral"}, case_id="from-prod")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("PROMPTKIT_DB_URL", None)
    run = subprocess.run([sys.executable, "-m", "pytest", "evals", "--collect-only", "-q",
                          "-p", "no:cacheprovider", "--prompt-version=1.2.0"],
                         cwd=project, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "evals/sentiment.yaml::sentiment@1.2.0::from-prod" in run.stdout.splitlines()
