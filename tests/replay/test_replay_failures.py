"""Failures pass through in record modes and are never written: 4xx, 5xx, resets, timeouts,
malformed bodies, cut streams."""

from __future__ import annotations

from pathlib import Path

import openai
import pytest
from replay_helpers import ask, messages, read, sdk

from promptkit.replay import ReplaySession
from promptkit.testing import FakeOpenAIServer, Reply

CASE = "suite/p@1/case.json"


async def attempt(fixtures: Path, reply: Reply, *, mode: str = "new", timeout: float = 5.0,
                  stream: bool = False) -> tuple[ReplaySession, BaseException | None]:  # fmt: skip
    """One call answered by `reply`; the session and the error the caller saw (if any)."""
    session = ReplaySession(fixtures, mode)
    with FakeOpenAIServer([reply]) as fake, session.cassette(CASE):
        client = sdk(session, fake.base_url, timeout=timeout)
        try:
            if stream:
                chunks = await client.chat.completions.create(
                    model="fake-model", messages=messages("hi"), stream=True  # type: ignore[arg-type]
                )
                async for _ in chunks:
                    pass
            else:
                await ask(client, "hi")
        except Exception as exc:
            return session, exc
    return session, None


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (Reply(status=500), openai.InternalServerError),
        (Reply(status=503), openai.InternalServerError),
        (Reply(status=429, error_code="rate_limit_exceeded"), openai.RateLimitError),
        (Reply(status=400, error_message="bad request"), openai.BadRequestError),
        (Reply(status=401), openai.AuthenticationError),
        (Reply(reset=True), openai.APIConnectionError),
        (Reply(malformed=True), ValueError),  # the SDK's JSON decode error, unretried
    ],
    ids=["500", "503", "429", "400", "401", "reset", "malformed"],
)
@pytest.mark.parametrize("mode", ["once", "new", "all", "rewrite"])
async def test_failures_pass_through_and_are_never_recorded(
    fixtures: Path, reply: Reply, error: type[Exception], mode: str
) -> None:
    session, raised = await attempt(fixtures, reply, mode=mode)
    assert isinstance(raised, error), raised
    session.finish()
    assert not (fixtures / CASE).exists()
    assert (session.stats.recorded, session.stats.failed) == (0, 1)


async def test_a_timeout_is_not_recorded(fixtures: Path) -> None:
    session, raised = await attempt(fixtures, Reply(hang=True), timeout=0.3)
    assert isinstance(raised, openai.APITimeoutError)
    session.finish()
    assert not (fixtures / CASE).exists() and session.stats.failed == 1


async def test_a_stream_cut_short_is_not_recorded(fixtures: Path) -> None:
    """The SDK ends such a stream silently (finish_reason None); the recorder does not keep it."""
    session, raised = await attempt(fixtures, Reply(content="x" * 64, stream_cut_after=2),
                                    stream=True)  # fmt: skip
    assert raised is None
    session.finish()
    assert not (fixtures / CASE).exists() and session.stats.failed == 1


async def test_a_success_after_a_failure_is_recorded_alone(fixtures: Path) -> None:
    """The SDK's own retry of a 500 reaches the transport again; only the 200 is kept."""
    session = ReplaySession(fixtures, "once")
    with FakeOpenAIServer([Reply(status=500), Reply(content="fine")]) as fake:
        with session.cassette(CASE):
            assert await ask(sdk(session, fake.base_url, max_retries=1), "hi") == "fine"
        assert len(fake.chat_requests) == 2
    entries = list(read(fixtures / CASE)["entries"].values())
    assert [e["response"]["status"] for e in entries] == [200]
    assert entries[0]["response"]["body"]["choices"][0]["message"]["content"] == "fine"
