"""An optional call log sink: one OpenTelemetry span per call, with GenAI semantic-convention names.

    CallLog([OpenTelemetrySink()])        # needs `pip install promptkit[otel]`

Spans are made by the call log's writer thread after the call, with the call's own start
and end times, kind CLIENT, named `chat <model>`. Attributes follow the GenAI semantic
conventions (`gen_ai.operation.name`, `gen_ai.provider.name`, `gen_ai.request.model`,
`gen_ai.request.temperature`, `gen_ai.request.max_tokens`, `gen_ai.response.model`,
`gen_ai.response.id`, `gen_ai.response.finish_reasons`, `gen_ai.usage.input_tokens`,
`gen_ai.usage.output_tokens`, `gen_ai.usage.cache_read.input_tokens`, `error.type`,
`server.address`, `server.port`), plus `promptkit.*` ones for the prompt, the call and
its cost. Messages and outputs are not put on spans.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from promptkit.core.calllog import CallLogEntry
from promptkit.errors import ConfigError

__all__ = ["OpenTelemetrySink", "span_attributes"]

_NS = 1_000_000_000


def span_attributes(entry: CallLogEntry) -> dict[str, Any]:
    """The span attributes of one logged call (None values left out)."""
    request, config = entry.request, entry.config
    url = urlsplit(str(config.get("base_url") or "https://api.openai.com/v1"))
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": request.get("model") or config.get("model"),
        "gen_ai.request.temperature": entry.temperature_effective,
        "gen_ai.request.max_tokens": request.get("max_tokens"),
        "gen_ai.response.model": entry.model,
        "gen_ai.response.id": entry.request_id,
        "gen_ai.response.finish_reasons": [entry.finish_reason] if entry.finish_reason else None,
        "gen_ai.usage.input_tokens": entry.input_tokens,
        "gen_ai.usage.output_tokens": entry.output_tokens,
        "gen_ai.usage.cache_read.input_tokens": entry.cached_tokens,
        "error.type": entry.error_type,
        "server.address": url.hostname,
        "server.port": url.port,
        "promptkit.call.id": entry.id,
        "promptkit.run.id": entry.run_id,
        "promptkit.prompt.name": entry.prompt,
        "promptkit.prompt.version": entry.version,
        "promptkit.prompt.content_hash": entry.content_hash,
        "promptkit.prompt.label": entry.label,
        "promptkit.config": entry.config_name,
        "promptkit.cost_usd": entry.cost_usd,
        "promptkit.attempts": entry.attempt_count,
        "promptkit.stream": entry.stream,
        "promptkit.time_to_first_token_s": entry.first_token_s,
    }
    return {k: v for k, v in attributes.items() if v is not None}


class OpenTelemetrySink:
    """Emits a span per call through a tracer provider (default: the global one)."""

    def __init__(self, tracer_provider: Any = None, *, tracer_name: str = "promptkit") -> None:
        try:
            from opentelemetry import trace
        except ImportError as exc:
            raise ConfigError(
                "OpenTelemetrySink needs opentelemetry-api: pip install 'promptkit[otel]'"
            ) from exc
        self._trace = trace
        self._tracer = trace.get_tracer(tracer_name, tracer_provider=tracer_provider)

    def __repr__(self) -> str:
        return "OpenTelemetrySink()"

    def write(self, entries: Sequence[CallLogEntry]) -> None:
        for entry in entries:
            self._span(entry)

    def _span(self, entry: CallLogEntry) -> None:
        trace = self._trace
        start = int(entry.started_at.timestamp() * _NS)
        model = entry.request.get("model") or entry.model or entry.config_name
        span = self._tracer.start_span(
            f"chat {model}",
            kind=trace.SpanKind.CLIENT,
            start_time=start,
            attributes=span_attributes(entry),
        )
        if entry.error_type is not None:
            span.set_status(trace.Status(trace.StatusCode.ERROR, entry.error_type))
        span.end(end_time=start + int(entry.latency_s * _NS))

    def close(self) -> None:
        return None
