"""Reading `text/event-stream` bodies back into (event, data) pairs, as a browser would."""

from __future__ import annotations

import json
from typing import Any


def parse_frames(body: bytes) -> list[tuple[str, Any]]:
    """Every complete frame of a body: its event name and its JSON data."""
    frames: list[tuple[str, Any]] = []
    for block in body.decode().split("\n\n"):
        if block.strip():
            frames.append(parse_frame(block))
    return frames


def parse_frame(block: str) -> tuple[str, Any]:
    event, data = "message", []
    for line in block.splitlines():
        field, _, value = line.partition(": ")
        if field == "event":
            event = value
        elif field == "data":
            data.append(value)
    return event, json.loads("\n".join(data))


def texts(frames: list[tuple[str, Any]]) -> str:
    return "".join(data["text"] for event, data in frames if event == "delta")
