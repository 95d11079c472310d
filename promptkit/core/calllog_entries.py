"""A call log entry: what one call sent, answered, cost and took, as logged, and how it
is made safe to keep (the redactors, then `scrub_secrets`) before any sink sees it.

    entry = safe_entry(record, run_id="…", redactors=[redact_patterns({...})],
                       scrubber=Scrubber())
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import UTC, datetime
from typing import Any

from promptkit.core.hooks import CallRecord
from promptkit.core.prices import price_call
from promptkit.core.results import Attempt, Usage
from promptkit.redact import REDACTED, Scrubber

__all__ = ["REDACTED", "CallLogEntry", "Redactor", "redact_patterns", "safe_entry",
           "scrub_secrets"]

_META_KEYS = ("prompt", "version", "content_hash", "label", "run_id")


@dataclass(frozen=True)
class CallLogEntry:
    """One call as logged: who asked, what was sent and answered, what it cost and took."""

    id: str
    started_at: datetime
    run_id: str
    prompt: str | None
    version: str | None
    content_hash: str | None
    label: str | None
    config_name: str
    model: str | None
    config: dict[str, Any]
    request: dict[str, Any]
    temperature_requested: float | None
    temperature_effective: float | None
    messages: list[dict[str, Any]]
    raw_output: str | None
    parsed_output: Any
    finish_reason: str | None
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    cost_usd: float
    cost_source: str
    latency_s: float
    first_token_s: float | None
    attempt_count: int
    attempts: list[dict[str, Any]]
    request_id: str | None
    error_type: str | None
    error: str | None
    stream: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)
    arm: str | None = None
    """During a canary: `canary` or `stable`, the arm the prompt was resolved to."""
    reasks: int = 0
    """How often the output was asked for again after it broke its schema."""

    @property
    def ok(self) -> bool:
        return self.error_type is None

    @classmethod
    def from_record(cls, record: CallRecord, *, run_id: str = "") -> CallLogEntry:
        """The entry of a finished call (its cost priced from the usage it reported)."""
        meta = dict(record.metadata)
        config = record.config
        usage = record.usage
        result = record.result
        cost = (None if result is not None or config is None  # a result is priced already
                else price_call(config, Usage(*_tokens(usage))))
        requested = record.requested.get("temperature")
        return cls(
            id=record.call_id or uuid.uuid4().hex,
            started_at=datetime.fromtimestamp(record.started_at, UTC),
            run_id=str(meta.get("run_id") or run_id),
            prompt=_text(meta.get("prompt")),
            version=_text(meta.get("version")),
            content_hash=_text(meta.get("content_hash")),
            label=_text(meta.get("label")),
            arm=_text(meta.get("arm")),
            reasks=sum(1 for a in record.attempts if a.kind == "reask"),
            config_name=record.config_name or (config.name if config else ""),
            model=result.model if result else (config.model if config else None),
            config=config.model_dump(mode="json") if config is not None else {},
            request=_jsonable(dict(record.request)),
            temperature_requested=requested if requested is not None else _config_temp(record),
            temperature_effective=record.request.get("temperature"),
            messages=_jsonable([dict(m) for m in record.messages]),
            raw_output=record.raw_output,
            parsed_output=_jsonable(record.output),
            finish_reason=record.finish_reason,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cached_tokens=usage.cached_tokens,
            cost_usd=result.cost_usd if result else cost.usd if cost else 0.0,
            cost_source=result.cost_source if result else cost.source if cost else "unknown",
            latency_s=record.latency_s,
            first_token_s=record.first_token_s,
            attempt_count=sum(1 for a in record.attempts if _sent(a)),
            attempts=[_attempt(a) for a in record.attempts],
            request_id=_request_id(record),
            error_type=record.error_type,
            error=_error_text(record.error),
            stream=record.stream,
            metadata=_jsonable(meta),
        )

    def to_dict(self) -> dict[str, Any]:
        """The entry as JSON-able values (the time as ISO 8601 UTC)."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["started_at"] = self.started_at.isoformat()
        return data

    def map_strings(self, change: Callable[[str], str]) -> CallLogEntry:
        """A copy with `change` applied to every string, however deeply nested."""
        updates = {f.name: _map(getattr(self, f.name), change) for f in fields(self)}
        updates.pop("id")
        updates.pop("started_at")
        return replace(self, **updates)


def _tokens(usage: Any) -> tuple[int, int, int]:
    return usage.input_tokens, usage.output_tokens, usage.cached_tokens


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _config_temp(record: CallRecord) -> float | None:
    return record.config.temperature if record.config is not None else None


def _sent(attempt: Attempt) -> bool:
    """Whether an attempt reached the endpoint (a config skipped by its breaker did not)."""
    return attempt.error_type != "CircuitOpenError"


def _attempt(attempt: Attempt) -> dict[str, Any]:
    return asdict(attempt)


def _request_id(record: CallRecord) -> str | None:
    if record.result is not None and record.result.request_id:
        return record.result.request_id
    ids = [a.request_id for a in record.attempts if a.request_id]
    return ids[-1] if ids else None


def _error_text(error: BaseException | None) -> str | None:
    if error is None:
        return None
    return str(error) or type(error).__name__


def _jsonable(value: Any) -> Any:
    """Plain JSON values: anything else becomes its string form."""
    return json.loads(json.dumps(value, ensure_ascii=False, default=str))


def _map(value: Any, change: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return change(value)
    if isinstance(value, Mapping):
        return {k: _map(v, change) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_map(v, change) for v in value]
    return value


# -- redaction ------------------------------------------------------------------------------

Redactor = Callable[[CallLogEntry], CallLogEntry]
"""Takes an entry before any sink sees it and returns it changed (e.g. personal data hidden)."""


def scrub_secrets(entry: CallLogEntry, scrubber: Scrubber | None = None,
                  also: Sequence[str] = ()) -> CallLogEntry:
    """Hide anything shaped like a credential, the value of every secret-named environment
    variable (`promptkit.redact`: the scrubber recordings use too), and the literal values
    `also` (the call's own key, whatever its variable is called)."""
    scrubber = scrubber or Scrubber()
    text = scrubber.text
    literals = [v for v in also if v]
    if _clean(entry, scrubber, literals):
        return entry

    def scrub(value: str) -> str:
        for literal in literals:
            value = value.replace(literal, REDACTED)
        return text(value)

    return entry.map_strings(scrub)


def _clean(entry: CallLogEntry, scrubber: Scrubber, literals: Sequence[str]) -> bool:
    """Whether the entry, as JSON text, shows nothing to scrub (one look at one string)."""
    try:
        shown = json.dumps(entry.to_dict(), ensure_ascii=False, default=str)
    except ValueError:  # a circular or NaN-laden value: look string by string
        return False
    return scrubber.clean(shown) and not any(json.dumps(literal, ensure_ascii=False)[1:-1]
                                             in shown for literal in literals)


def _key_of(record: CallRecord) -> list[str]:
    """The value of the key variable the call's config names, if set."""
    name = record.config.api_key_env if record.config is not None else None
    value = os.environ.get(name) if name else None
    return [value] if value else []


def redact_patterns(patterns: Mapping[str, str | re.Pattern[str]]) -> Redactor:
    """A redactor replacing each match of a pattern by `[NAME]`, e.g.
    `redact_patterns({"email": r"[\\w.+-]+@[\\w-]+\\.[\\w.]+"})`."""
    compiled = [(name, re.compile(p) if isinstance(p, str) else p) for name, p in patterns.items()]

    def redact(entry: CallLogEntry) -> CallLogEntry:
        def change(text: str) -> str:
            for name, pattern in compiled:
                text = pattern.sub(f"[{name}]", text)
            return text

        return entry.map_strings(change)

    return redact


def safe_entry(record: CallRecord, *, run_id: str, redactors: Sequence[Redactor],
               scrubber: Scrubber) -> CallLogEntry:
    """The entry of a finished call as sinks get it: the `redactors` in order, then
    `scrub_secrets` (with the call's own key hidden whatever its variable is called)."""
    entry = CallLogEntry.from_record(record, run_id=run_id)
    for redact in redactors:
        entry = redact(entry)
    return scrub_secrets(entry, scrubber, also=_key_of(record))
