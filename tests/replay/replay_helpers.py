"""Helpers for the replay tests: an SDK over a replay session, one question, a cassette read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx2
import openai

from promptkit.replay import ReplaySession
from promptkit.testing import Reply

CLOSED_URL = "http://127.0.0.1:9/v1"
"""A base URL nobody listens on: replays must never need it."""


def echo(body: dict[str, Any], index: int) -> Reply:
    """Answer with the last user message, so each question has its own recorded answer."""
    return Reply(content=f"echo: {body['messages'][-1]['content']}")


def sdk(session: ReplaySession, base_url: str = CLOSED_URL, **options: Any) -> openai.AsyncOpenAI:
    """An SDK client whose HTTP goes through the session's replay transport."""
    options.setdefault("max_retries", 0)
    http = httpx2.AsyncClient(transport=session.transport())
    return openai.AsyncOpenAI(base_url=base_url, api_key="sk-test", http_client=http, **options)


def messages(text: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": "Classify the sentiment."},
            {"role": "user", "content": text}]  # fmt: skip


async def ask(client: openai.AsyncOpenAI, text: str, **params: Any) -> str:
    """The answer to one question (model fake-model, temperature 0 unless given)."""
    params.setdefault("temperature", 0)
    completion = await client.chat.completions.create(
        model="fake-model", messages=messages(text), **params  # type: ignore[arg-type]
    )
    return completion.choices[0].message.content or ""


def read(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))
