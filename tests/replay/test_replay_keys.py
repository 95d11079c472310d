"""Request keys: what changes an answer changes the key; transport noise does not."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx2
import pytest
from replay_helpers import ask, read, sdk

from promptkit.errors import UsageError
from promptkit.replay import (
    NOISE_FIELDS,
    ReplaySession,
    Scrubber,
    canonical_request,
    repeat_index,
    request_key,
)
from promptkit.replay.keys import current_repeat

BASE = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "temperature": 0}


def key(body: Any, url: str = "https://api.openai.com/v1/chat/completions", repeat: int = 0) -> str:
    request = httpx2.Request("POST", url, content=json.dumps(body).encode())
    return request_key(canonical_request(request, Scrubber({}), repeat))


@pytest.mark.parametrize(
    "change",
    [{"model": "gpt-4o"}, {"temperature": 0.5}, {"top_p": 0.9}, {"max_tokens": 5},
     {"max_completion_tokens": 5}, {"seed": 1}, {"stop": ["\n"]}, {"n": 2}, {"stream": True},
     {"stream_options": {"include_usage": True}}, {"tools": [{"type": "function"}]},
     {"tool_choice": "required"}, {"response_format": {"type": "json_object"}},
     {"reasoning_effort": "low"}, {"messages": [{"role": "user", "content": "hi!"}]}],
    ids=lambda change: next(iter(change)),
)
def test_what_defines_the_answer_changes_the_key(change: dict[str, Any]) -> None:
    assert key({**BASE, **change}) != key(BASE)


@pytest.mark.parametrize("field", sorted(NOISE_FIELDS))
def test_transport_noise_does_not(field: str) -> None:
    assert key({**BASE, field: "run-2025-05-01T12:00:00/abc"}) == key(BASE)


def test_key_ignores_host_prefix_and_order_but_not_endpoint_or_repeat() -> None:
    reordered = dict(reversed(list(BASE.items())))
    assert key(reordered) == key(BASE)
    assert key(BASE, "http://127.0.0.1:8000/proxy/openai/v1/chat/completions") == key(BASE)
    assert key(BASE, "https://api.openai.com/v1/completions") != key(BASE)
    assert key(BASE, repeat=1) != key(BASE)
    assert key(BASE, "https://x/v1/chat/completions?api-version=1&key=secret") == key(
        BASE, "https://x/v1/chat/completions?key=other&api-version=1"
    )


def test_canonical_request_is_readable() -> None:
    request = httpx2.Request("POST", "https://x/v1/chat/completions?api-version=2",
                             content=json.dumps({**BASE, "user": "u1"}).encode())  # fmt: skip
    assert canonical_request(request, Scrubber({}), 2) == {
        "body": BASE, "endpoint": "POST /chat/completions", "query": [["api-version", "2"]],
        "repeat": 2,
    }  # fmt: skip
    binary = httpx2.Request("POST", "https://x/v1/files", content=b"\x00\x01")
    assert canonical_request(binary, Scrubber({}), 0)["body"]["content_sha256"].startswith("sha256:")


def test_repeat_index_nests_and_rejects_nonsense() -> None:
    assert current_repeat() == 0
    with repeat_index(2):
        assert current_repeat() == 2
        with repeat_index(0):
            assert current_repeat() == 0
        assert current_repeat() == 2
    assert current_repeat() == 0
    for bad in (-1, True, 1.5):
        with pytest.raises(UsageError), repeat_index(bad):  # type: ignore[arg-type]
            pass


async def test_repeats_record_distinct_answers(server, fixtures: Path) -> None:
    """`--prompt-repeat 3`: the runner sets the index, and three answers are kept."""
    session = ReplaySession(fixtures, "once")
    with session.cassette("s/p@1/case.json"):
        client = sdk(session, server.base_url)
        for i in range(3):
            with repeat_index(i):
                await ask(client, "same question")
    entries = read(fixtures / "s/p@1/case.json")["entries"].values()
    assert sorted(e["request"]["repeat"] for e in entries) == [0, 1, 2]
    assert len(server.chat_requests) == 3


async def test_cassettes_are_parsed_once_and_looked_up_by_key(server, fixtures: Path) -> None:
    session = ReplaySession(fixtures, "once")
    with session.cassette("s/p@1/case.json"):
        await ask(sdk(session, server.base_url), "cached")
    replayer = ReplaySession(fixtures)
    with replayer.cassette("s/p@1/case.json") as first:
        (fixtures / "s/p@1/case.json").unlink()  # from here on only the parsed copy exists
        client = sdk(replayer)
        for _ in range(50):
            assert await ask(client, "cached") == "echo: cached"
    with replayer.cassette(fixtures / "s/p@1/./case.json") as second:
        assert second is first and await ask(client, "cached") == "echo: cached"
    assert replayer.stats.replayed == 51


def image_body(url: str) -> dict[str, Any]:
    part = {"type": "image_url", "image_url": {"url": url}}
    return {**BASE, "messages": [{"role": "user", "content": [{"type": "text", "text": "?"}, part]}]}


def test_an_inline_image_is_keyed_and_kept_by_the_hash_of_its_bytes() -> None:
    """The canonical request holds `sha256sum` of the image, never its base64: the same
    image gives the same key, another image another key (chat and Anthropic forms alike)."""
    import base64
    import hashlib

    cat, dog = b"\x89PNG\r\n\x1a\ncat", b"\x89PNG\r\n\x1a\ndog"
    url = f"data:image/png;base64,{base64.b64encode(cat).decode()}"
    request = httpx2.Request("POST", "https://api.openai.com/v1/chat/completions",
                             content=json.dumps(image_body(url)).encode())
    canonical = canonical_request(request, Scrubber({}), 0)
    assert canonical["body"]["messages"][0]["content"][1]["image_url"]["url"] == {
        "image_sha256": f"sha256:{hashlib.sha256(cat).hexdigest()}", "media_type": "image/png"}
    assert base64.b64encode(cat).decode() not in json.dumps(canonical)
    assert key(image_body(url)) == key(image_body(url))
    assert key(image_body(url)) != key(image_body(url.replace(
        base64.b64encode(cat).decode(), base64.b64encode(dog).decode())))

    def anthropic(data: bytes) -> dict[str, Any]:
        source = {"type": "base64", "media_type": "image/png",
                  "data": base64.b64encode(data).decode()}
        return {"model": "claude", "messages": [{"role": "user", "content": [
            {"type": "image", "source": source}]}]}

    assert key(anthropic(cat)) != key(anthropic(dog))
    assert "image_sha256" in json.dumps(canonical_request(httpx2.Request(
        "POST", "https://api.anthropic.com/v1/messages",
        content=json.dumps(anthropic(cat)).encode()), Scrubber({}), 0))
