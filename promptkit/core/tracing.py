"""OpenTelemetry spans of model calls that join the application's trace.

    Client(configs)                       # traced when opentelemetry-api is installed
    Client(configs, tracing=False)        # not traced

`Tracing` is a hook: the span opens when the call starts, as a child of whatever span is
current where the call was made (the sync client carries the caller's context into its loop
thread), stays current while the call runs (so an HTTP instrumentation's spans nest under
it), and ends with the call. It is the GenAI inference span: named `chat <model>`, kind
CLIENT, with the GenAI semantic conventions' attributes (`gen_ai.operation.name`,
`gen_ai.provider.name`, `gen_ai.request.model`, `gen_ai.request.temperature`,
`gen_ai.request.max_tokens`, `gen_ai.response.model`, `gen_ai.response.id` (the provider's
response id), `gen_ai.response.finish_reasons`, `gen_ai.usage.input_tokens`,
`gen_ai.usage.output_tokens`, `gen_ai.usage.cache_read.input_tokens`, `error.type`,
`server.address`, `server.port`) and promptkit's own: the prompt's name, version, content
hash and label, the call id, config, cost and attempt count. Every HTTP request after the
first (a retry, a re-ask, a fallback) is a `promptkit.attempt` event, and a stream's first
token a `promptkit.first_token` event. Messages and outputs are never put on spans.

With an SDK instrumentation also installed (opentelemetry-instrumentation-openai-v2,
OpenLLMetry), its per-request spans appear as children of promptkit's span: keep one of the
two, or both if a span per HTTP request is wanted. Without an SDK configured the API's
no-op tracer is used, and nothing is computed for a span that does not record.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from promptkit.core.hooks import CallRecord, CallStart, RoundContext, RoundOutcome
from promptkit.core.types import ModelConfig
from promptkit.errors import ConfigError

__all__ = ["Tracing", "provider_name", "span_attributes"]

_NS = 1_000_000_000
_HOSTS = (
    ("openai.azure.com", "azure.ai.openai"),
    ("services.ai.azure.com", "azure.ai.inference"),
    ("generativelanguage.googleapis.com", "gcp.gemini"),
    ("aiplatform.googleapis.com", "gcp.vertex_ai"),
    ("api.groq.com", "groq"),
    ("api.deepseek.com", "deepseek"),
    ("api.x.ai", "x_ai"),
    ("api.mistral.ai", "mistral_ai"),
    ("api.perplexity.ai", "perplexity"),
    ("amazonaws.com", "aws.bedrock"),
)
_DEFAULT_HOSTS = {"openai": "api.openai.com", "openai-responses": "api.openai.com",
                  "anthropic": "api.anthropic.com"}


def provider_name(config: ModelConfig) -> str:
    """`gen_ai.provider.name`: the API's maker, or the vendor an OpenAI-compatible URL names."""
    host = urlsplit(config.base_url or "").hostname or ""
    for suffix, name in _HOSTS:
        if host == suffix or host.endswith("." + suffix):
            return name
    return "anthropic" if config.provider == "anthropic" else "openai"


def span_attributes(record: CallRecord) -> dict[str, Any]:
    """The span attributes of a finished call (None values left out)."""
    config, request, result = record.config, record.request, record.result
    metadata = record.metadata
    url = urlsplit(config.base_url or "") if config and config.base_url else None
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": provider_name(config) if config else None,
        "gen_ai.request.model": request.get("model") or (config.model if config else None),
        "gen_ai.request.temperature": request.get("temperature"),
        "gen_ai.request.max_tokens": request.get("max_tokens")
        or request.get("max_output_tokens"),
        "gen_ai.response.model": result.model if result else None,
        "gen_ai.response.id": result.response_id if result else None,
        "gen_ai.response.finish_reasons": [record.finish_reason] if record.finish_reason
        else None,
        "gen_ai.usage.input_tokens": record.usage.input_tokens,
        "gen_ai.usage.output_tokens": record.usage.output_tokens,
        "gen_ai.usage.cache_read.input_tokens": record.usage.cached_tokens,
        "error.type": record.error_type,
        "server.address": url.hostname if url else (
            _DEFAULT_HOSTS.get(config.provider) if config else None),
        "server.port": url.port if url else None,
        "promptkit.call.id": record.call_id,
        "promptkit.prompt.name": metadata.get("prompt"),
        "promptkit.prompt.version": metadata.get("version"),
        "promptkit.prompt.content_hash": metadata.get("content_hash"),
        "promptkit.prompt.label": metadata.get("label"),
        "promptkit.config": record.config_name or None,
        "promptkit.cost_usd": result.cost_usd if result else None,
        "promptkit.attempts": len(record.attempts),
        "promptkit.stream": record.stream,
    }
    return {k: v for k, v in attributes.items() if v is not None}


class Tracing:
    """A hook that makes one span per call (see the module's docstring)."""

    def __init__(self, tracer_provider: Any = None, *, tracer_name: str = "promptkit") -> None:
        try:
            from opentelemetry import context, trace
        except ImportError as exc:
            raise ConfigError(
                "tracing needs opentelemetry-api: pip install 'promptkit[otel]'") from exc
        self._context, self._trace = context, trace
        self._tracer = trace.get_tracer(tracer_name, tracer_provider=tracer_provider)
        self._open: dict[str, tuple[Any, Any]] = {}

    def __repr__(self) -> str:
        return "Tracing()"

    def before_call(self, start: CallStart) -> None:
        model = start.config.model if start.config else "unknown"
        span = self._tracer.start_span(f"chat {model}", kind=self._trace.SpanKind.CLIENT,
                                       start_time=int(start.started_at * _NS))
        token = self._context.attach(self._trace.set_span_in_context(span))
        self._open[start.call_id] = (span, token)

    def before_round(self, context: RoundContext) -> None:
        return None

    def after_round(self, context: RoundContext, outcome: RoundOutcome) -> None:
        opened = self._open.get(context.call_id)
        if opened is None or not opened[0].is_recording():
            return
        for request in outcome.requests:
            if request.index == 0 and request.ok:
                continue
            opened[0].add_event("promptkit.attempt", {
                "promptkit.attempt.index": request.index,
                "promptkit.attempt.kind": request.kind,
                "promptkit.attempt.config": request.config_name,
                "http.response.status_code": request.status or 0,
                "error.type": request.error_type or "",
                "promptkit.attempt.wait_s": request.wait_s,
            })

    def after_call(self, record: CallRecord) -> None:
        opened = self._open.pop(record.call_id, None)
        if opened is None:
            return
        span, token = opened
        try:
            if span.is_recording():
                self._finish(span, record)
        finally:
            span.end(end_time=int((record.started_at + record.latency_s) * _NS))
            self._context.detach(token)

    def _finish(self, span: Any, record: CallRecord) -> None:
        span.set_attributes(span_attributes(record))
        if record.first_token_s is not None:
            at = int((record.started_at + record.first_token_s) * _NS)
            span.add_event("promptkit.first_token",
                           {"promptkit.time_to_first_token_s": record.first_token_s},
                           timestamp=at)
        if record.error is not None:
            status = self._trace.Status(self._trace.StatusCode.ERROR, record.error_type)
            span.set_status(status)


def default_tracing() -> Tracing | None:
    """Tracing when opentelemetry-api is installed, else None (the call log and everything
    else work without it)."""
    try:
        return Tracing()
    except ConfigError:
        return None
