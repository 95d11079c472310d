"""Record and replay model responses in `fixtures/`, so evals run offline, free and deterministic.

    session = ReplaySession("fixtures", RecordMode.NONE)
    sdk = openai.AsyncOpenAI(http_client=httpx2.AsyncClient(transport=session.transport()))
    with session.cassette("suite/prompt@1.0.0/case-1.json"), repeat_index(0):
        await sdk.chat.completions.create(...)   # answered from the cassette, or ReplayMissError
    session.finish()                             # writes recordings; rewrite mode prunes

See docs/replay.md for the modes, the file format and what a miss says.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from promptkit.lazy import lazy_attributes

if TYPE_CHECKING:
    from promptkit.redact import Scrubber
    from promptkit.replay.cassette import FORMAT, Cassette
    from promptkit.replay.keys import NOISE_FIELDS, canonical_request, repeat_index, request_key
    from promptkit.replay.modes import RecordMode
    from promptkit.replay.session import (
        ReplaySession,
        ReplayStats,
        Unused,
        find_unused,
        remove_unused,
    )
    from promptkit.replay.tally import ReplayTally, replay_tally
    from promptkit.replay.transport import ReplayTransport

__all__ = [
    "FORMAT",
    "NOISE_FIELDS",
    "Cassette",
    "RecordMode",
    "ReplaySession",
    "ReplayStats",
    "ReplayTally",
    "ReplayTransport",
    "Scrubber",
    "Unused",
    "canonical_request",
    "find_unused",
    "remove_unused",
    "repeat_index",
    "replay_tally",
    "request_key",
]


if not TYPE_CHECKING:  # type checkers see the imports above: a typo is an error
    __getattr__ = lazy_attributes(__name__)
