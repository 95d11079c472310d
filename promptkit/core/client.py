"""The public clients: `AsyncClient.call` and its sync twin `Client.call`, over one attempt loop.

    client = Client({"main": ModelConfig(name="main", model=..., fallback=("backup",)),
                     "backup": ModelConfig(name="backup", model=...)})
    result = client.call(messages, config="main", output=OutputSpec(mode="json_schema",
                                                                   schema=schema))
    result.output      # validated JSON
    result.attempts    # every HTTP request, each one attempt (the SDK never retries)

    for event in client.stream(messages, config="main"):   # TextDelta ... StreamEnd
        ...

    run = client.run_tools(messages, {"lookup_order": lookup_order}, tools=[lookup_spec])
    run.tools, run.output  # ("lookup_order",), the final answer (see `tool_loop`)

The endpoint and the key come from the model config: `base_url` (default: the SDK's own
`OPENAI_BASE_URL`, then OpenAI) and `api_key_env`, the *name* of the environment variable
holding the key (an empty name means the endpoint needs no key).
"""

from __future__ import annotations

import asyncio
import math
import os
import weakref
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Callable,
    Generator,
    Hashable,
    Iterable,
    Mapping,
    Sequence,
)
from dataclasses import dataclass, field, replace
from typing import Any, TypedDict, Unpack

import httpx2

from promptkit.core.attempts import AttemptLoop, CallSpec
from promptkit.core.breaker import CircuitBreaker
from promptkit.core.hooks import CallHooks
from promptkit.core.loop_thread import LoopThread
from promptkit.core.prompt_call import PromptLike, prompt_call
from promptkit.core.providers import SdkOptions, provider_of
from promptkit.core.results import CallResult
from promptkit.core.retry import RetryPolicy
from promptkit.core.streaming import StreamEvent, stream_events
from promptkit.core.tool_loop import ToolErrors, ToolFunction, ToolRunSpec, run_tool_loop
from promptkit.core.tracing import Tracing, default_tracing
from promptkit.core.trajectory import Trajectory
from promptkit.core.transport import RecordingAsyncClient
from promptkit.core.types import Message, ModelConfig, OutputSpec, ToolSpec
from promptkit.core.validation import check_schema
from promptkit.errors import ConfigError, UsageError
from promptkit.redact import remember_secret

__all__ = ["AsyncClient", "Client", "ConfigSource", "resolve_api_key"]

ConfigSource = Mapping[str, ModelConfig] | Callable[[str], ModelConfig] | Iterable[ModelConfig]
"""Where config names resolve: a mapping, a function (e.g. the registry's), or a list."""

class ClientOptions(TypedDict, total=False):
    """How a client calls (both clients): `retry` (the retry policy, the only one: default
    `RetryPolicy()`; `RetryPolicy.from_settings` reads the project's), `breaker`
    (the per-endpoint circuit breaker), `hooks` (observers such as the call log),
    `deadline_s` (each call's overall deadline, default 120 s; None for none),
    `max_reasks` (default 2), `transport` (replaces the HTTP transport under the SDK) and
    `tracing` (an OpenTelemetry span per call, joining the caller's trace: on when
    opentelemetry-api is installed; False to turn it off)."""

    retry: RetryPolicy | None
    breaker: CircuitBreaker | None
    hooks: Sequence[CallHooks]
    deadline_s: float | None
    max_reasks: int
    transport: httpx2.AsyncBaseTransport | None
    tracing: bool


class CallOptions(TypedDict, total=False):
    """The options of one call (`call`, `stream`, both clients): `config` (a name or a
    ModelConfig; default "default"), `output` (the output spec), `temperature` and
    `max_tokens` (override the config's), `deadline_s` and `max_reasks` (override the
    client's; `math.inf` for no deadline), `metadata` (handed to hooks, kept on the result),
    `extra` (more request parameters, e.g. `seed`) and `tools` (tools offered to the model,
    `ToolSpec`s or their dicts: a reply calling one ends the call with `tool_calls`;
    `run_tools` runs them)."""

    config: str | ModelConfig
    output: OutputSpec | None
    temperature: float | None
    max_tokens: int | None
    deadline_s: float | None
    max_reasks: int | None
    metadata: Mapping[str, Any] | None
    extra: Mapping[str, Any] | None
    tools: Sequence[ToolSpec | Mapping[str, Any]] | None


_NO_KEY = "no-key"


def resolve_api_key(config: ModelConfig, *, offline: bool = False) -> str:
    """The API key from the environment variable the config names. `offline` (a transport
    that never reaches the endpoint, such as replay in mode none) makes a missing key fine."""
    if not config.api_key_env:
        return _NO_KEY
    key = os.environ.get(config.api_key_env)
    if not key and offline:
        return _NO_KEY
    if not key:
        raise ConfigError(
            f"model config {config.name!r}: the environment variable {config.api_key_env} "
            "that should hold its API key is not set (set api_key_env='' for an endpoint "
            "that needs no key)"
        )
    remember_secret(key)  # whatever the variable is called, its value never reaches a file
    return key


def _with_tracing(hooks: Sequence[CallHooks], tracing: bool) -> list[CallHooks]:
    """The hooks, with a tracer first (so its span is current for the others) unless one
    is given already or tracing is off."""
    if not tracing or any(isinstance(hook, Tracing) for hook in hooks):
        return list(hooks)
    tracer = default_tracing()
    return [tracer, *hooks] if tracer is not None else list(hooks)


_BASE_URL_ENV = {"anthropic": "ANTHROPIC_BASE_URL"}


def _base_url(config: ModelConfig) -> str | None:
    """The config's endpoint, else the one its SDK would read from the environment."""
    env = _BASE_URL_ENV.get(config.provider, "OPENAI_BASE_URL")
    return config.base_url or os.environ.get(env) or None


def endpoint_key(config: ModelConfig) -> Hashable:
    """What the circuit breaker counts failures by: the base URL and the model."""
    return (_base_url(config) or "openai-default", config.model)


class _Configs:
    """Resolves config names (a config's fallbacks included) through the user's source."""

    def __init__(self, source: ConfigSource | None) -> None:
        self._lookup: Callable[[str], ModelConfig] | None = None
        self._known: dict[str, ModelConfig] = {}
        if isinstance(source, Mapping):
            self._known = dict(source)
        elif callable(source):
            self._lookup = source
        elif source is not None:
            self._known = {c.name: c for c in source}

    def get(self, ref: str | ModelConfig) -> ModelConfig:
        if isinstance(ref, ModelConfig):
            return ref
        found = self._find(ref)
        if not isinstance(found, ModelConfig):
            known = ", ".join(sorted(self._known)) or "none"
            raise ConfigError(f"no model config named {ref!r} (known: {known})")
        return found if found.name == ref else found.model_copy(update={"name": ref})

    def _find(self, name: str) -> ModelConfig | None:
        if self._lookup is None:
            return self._known.get(name)
        try:
            return self._lookup(name)
        except (KeyError, LookupError) as exc:
            raise ConfigError(f"no model config named {name!r}: {exc}") from exc

    def chain(self, ref: str | ModelConfig) -> tuple[ModelConfig, ...]:
        """The config and its declared fallbacks, in order, each once."""
        primary = self.get(ref)
        chain = [primary]
        for name in primary.fallback:
            if all(c.name != name for c in chain):
                chain.append(self.get(name))
        return tuple(chain)


@dataclass
class _LoopClients:
    """The HTTP client and SDK clients of one event loop (connections belong to a loop)."""

    http: RecordingAsyncClient
    sdks: dict[tuple[Any, ...], Any] = field(default_factory=dict)


class AsyncClient:
    """Makes model calls from rendered messages; every call goes through one attempt loop.

    `deadline_s` (default 120 s, None for none) bounds each whole call, retries and their
    waits included; `max_reasks` (default 2) bounds re-asks after invalid output.
    Both can be overridden per call. `breaker` may be shared between clients.
    `transport` replaces the HTTP transport under the SDK (replay uses it); every request
    through it is still recorded as an attempt.
    """

    def __init__(self, configs: ConfigSource | None = None,
                 **options: Unpack[ClientOptions]) -> None:
        self._configs = _Configs(configs)
        self._transport = options.get("transport")
        self.deadline_s = options.get("deadline_s", 120.0)
        self.max_reasks = options.get("max_reasks", 2)
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopClients] = (
            weakref.WeakKeyDictionary()
        )
        self.attempts = AttemptLoop(
            sdk_for=self._sdk_for,
            endpoint_of=endpoint_key,
            retry=options.get("retry") or RetryPolicy(),
            breaker=options.get("breaker") or CircuitBreaker(),
            hooks=_with_tracing(options.get("hooks", ()), options.get("tracing", True)),
        )

    @property
    def breaker(self) -> CircuitBreaker:
        return self.attempts.breaker

    def config(self, ref: str | ModelConfig) -> ModelConfig:
        """The model config a name resolves to (raises ConfigError when unknown)."""
        return self._configs.get(ref)

    async def call(
        self,
        messages: Sequence[Message],
        **options: Unpack[CallOptions],
    ) -> CallResult:
        """Call the model; the validated result, or a `ModelCallError` with every attempt.

        `temperature` and `max_tokens` override the config's; `deadline_s` and
        `max_reasks` the client's (`math.inf` for no deadline); `extra` adds request
        parameters (e.g. `seed`); `metadata` is handed to hooks and kept on the result.
        """
        spec = self.spec(messages, **options)
        return await self.attempts.run(spec)

    def stream(
        self,
        messages: Sequence[Message],
        **options: Unpack[CallOptions],
    ) -> AsyncGenerator[StreamEvent, None]:
        """Stream the call: `TextDelta` / `ToolCallDelta` as tokens arrive, then `StreamEnd`
        with the validated result; or a `ModelCallError` (see `promptkit.core.streaming`).

        Arguments as for `call`, checked at once. Leaving the loop early cancels the call.
        """
        spec = self.spec(messages, **options)
        return self.stream_spec(spec)

    async def call_prompt(
        self, prompt: PromptLike, variables: Mapping[str, Any] | None = None, *,
        config: str | ModelConfig | None = None, default_config: str = "default",
        metadata: Mapping[str, Any] | None = None, **options: Any,
    ) -> CallResult:
        """Render `prompt` with `variables` and call the model with the prompt's own settings
        (model config, output spec, temperature, token limit; `config` overrides the model
        config). `options` as for `call` (`deadline_s`, `max_reasks`, `extra`)."""
        messages, chosen = prompt_call(prompt, variables, config=config,
                                       default_config=default_config, metadata=metadata)
        return await self.call(messages, **chosen, **options)

    async def run_tools(
        self, messages: Sequence[Message], functions: Mapping[str, ToolFunction], *,
        max_steps: int = 10, tool_errors: ToolErrors = "return",
        **options: Unpack[CallOptions],
    ) -> Trajectory:
        """Offer the model `tools` and run the functions it calls until it answers: the
        `Trajectory` (steps, turns, the final answer validated against `output`).

        Each model turn is a call through the attempt loop. `deadline_s` bounds the whole
        run (default: the client's deadline); `max_steps` the tool calls; a tool's exception
        goes back to the model as its result unless `tool_errors="raise"`. See
        `promptkit.core.tool_loop`."""
        spec = self.tool_run_spec(messages, functions, max_steps=max_steps,
                                  tool_errors=tool_errors, **options)
        return await run_tool_loop(self.attempts, spec)

    async def run_tools_prompt(
        self, prompt: PromptLike, variables: Mapping[str, Any] | None,
        functions: Mapping[str, ToolFunction], *, config: str | ModelConfig | None = None,
        default_config: str = "default", metadata: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> Trajectory:
        """Render `prompt` and run its tools (declared in its front matter) with
        `functions`, with the prompt's own settings; `options` as for `run_tools`."""
        messages, chosen = prompt_call(prompt, variables, config=config,
                                       default_config=default_config, metadata=metadata)
        return await self.run_tools(messages, functions, **chosen, **options)

    def tool_run_spec(
        self, messages: Sequence[Message], functions: Mapping[str, ToolFunction], *,
        max_steps: int, tool_errors: ToolErrors, **options: Unpack[CallOptions],
    ) -> ToolRunSpec:
        """Check and resolve a tool run's arguments (no I/O): each offered tool has a
        function and each function a tool; `deadline_s` is the run's."""
        run_deadline = self._deadline(options.pop("deadline_s", None))
        call = self.spec(messages, **options)
        offered = {tool.name for tool in call.tools}
        if not offered or offered != set(functions):
            raise UsageError(_tool_mismatch(offered, set(functions)))
        if max_steps < 0:
            raise UsageError(f"max_steps must be 0 or more, got {max_steps}")
        if tool_errors not in ("return", "raise"):
            raise UsageError(f"tool_errors is 'return' or 'raise', got {tool_errors!r}")
        return ToolRunSpec(call, dict(functions), max_steps, run_deadline, tool_errors)

    def stream_spec(self, spec: CallSpec) -> AsyncGenerator[StreamEvent, None]:
        """Stream a call already checked by `spec` (used by both clients)."""
        attempts = self.attempts
        return stream_events(lambda emit: attempts.run(replace(spec, on_event=emit)))

    def spec(self, messages: Sequence[Message], **options: Unpack[CallOptions]) -> CallSpec:
        """Check and resolve a call's arguments (no I/O); used by both clients."""
        config = options.get("config", "default")
        output = options.get("output") or OutputSpec()
        max_reasks = options.get("max_reasks")
        if output.structured and output.json_schema is not None:
            check_schema(output.json_schema)
        reasks = self.max_reasks if max_reasks is None else max_reasks
        if reasks < 0:
            raise UsageError(f"max_reasks must be 0 or more, got {reasks}")
        return CallSpec(
            messages=_checked(messages),
            chain=self._configs.chain(config),
            output=output,
            temperature=options.get("temperature"),
            max_tokens=options.get("max_tokens"),
            deadline_s=self._deadline(options.get("deadline_s")),
            max_reasks=reasks,
            metadata=dict(options.get("metadata") or {}),
            extra=dict(options.get("extra") or {}),
            tools=_checked_tools(options.get("tools") or (), output),
        )

    def _deadline(self, deadline_s: float | None) -> float | None:
        """The deadline asked for (None: the client's; `math.inf`: none), checked."""
        deadline = self.deadline_s if deadline_s is None else deadline_s
        if deadline is not None and deadline <= 0:
            raise UsageError(f"deadline_s must be positive, got {deadline}")
        return None if deadline is None or math.isinf(deadline) else deadline

    def _sdk_for(self, config: ModelConfig) -> Any:
        """The SDK client of the config's provider, one per endpoint and options, sharing
        the loop's HTTP connections (and so its recording transport)."""
        loop = asyncio.get_running_loop()
        clients = self._clients.get(loop)
        if clients is None:
            http = RecordingAsyncClient(transport=self._transport)
            clients = self._clients[loop] = _LoopClients(http)
        api_key = resolve_api_key(config, offline=getattr(self._transport, "offline", False))
        headers = dict(config.headers)
        if config.api_key_header:
            headers[config.api_key_header] = api_key
        key = (config.provider, _base_url(config), api_key, config.timeout_s,
               tuple(sorted(headers.items())), tuple(sorted(config.query.items())),
               config.organization, config.project)
        sdk = clients.sdks.get(key)
        if sdk is None:
            options = SdkOptions(api_key, _base_url(config), config.timeout_s, headers,
                                 config.query, clients.http)
            sdk = clients.sdks[key] = provider_of(config).client(config, options)
        return sdk

    async def aclose(self) -> None:
        """Close the connections opened from the running event loop."""
        clients = self._clients.pop(asyncio.get_running_loop(), None)
        if clients is not None:
            await clients.http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class Client:
    """The sync client: the same calls, driven on a private event loop thread."""

    def __init__(self, configs: ConfigSource | None = None,
                 **options: Unpack[ClientOptions]) -> None:
        self._async = AsyncClient(configs, **options)
        self._loop = LoopThread()
        self._finalizer = weakref.finalize(self, self._loop.close)

    @property
    def breaker(self) -> CircuitBreaker:
        return self._async.breaker

    def config(self, ref: str | ModelConfig) -> ModelConfig:
        """The model config a name resolves to (raises ConfigError when unknown)."""
        return self._async.config(ref)

    def call(
        self,
        messages: Sequence[Message],
        **options: Unpack[CallOptions],
    ) -> CallResult:
        """Call the model and wait; see `AsyncClient.call`."""
        spec = self._async.spec(messages, **options)
        return self._loop.run(self._async.attempts.run(spec))

    def stream(
        self,
        messages: Sequence[Message],
        **options: Unpack[CallOptions],
    ) -> Generator[StreamEvent, None, None]:
        """Stream the call; see `AsyncClient.stream`. Events are read from the same async
        loop, one at a time, on the client's loop thread."""
        spec = self._async.spec(messages, **options)
        return self._iterate(self._async.stream_spec(spec))

    def call_prompt(
        self, prompt: PromptLike, variables: Mapping[str, Any] | None = None, *,
        config: str | ModelConfig | None = None, default_config: str = "default",
        metadata: Mapping[str, Any] | None = None, **options: Any,
    ) -> CallResult:
        """Render `prompt` and call the model and wait; see `AsyncClient.call_prompt`."""
        return self._loop.run(self._async.call_prompt(
            prompt, variables, config=config, default_config=default_config,
            metadata=metadata, **options))

    def run_tools(
        self, messages: Sequence[Message], functions: Mapping[str, ToolFunction], *,
        max_steps: int = 10, tool_errors: ToolErrors = "return",
        **options: Unpack[CallOptions],
    ) -> Trajectory:
        """Run the model and its tools until it answers, and wait; see
        `AsyncClient.run_tools`. Sync tools run in worker threads of the client's loop."""
        spec = self._async.tool_run_spec(messages, functions, max_steps=max_steps,
                                         tool_errors=tool_errors, **options)
        return self._loop.run(run_tool_loop(self._async.attempts, spec))

    def run_tools_prompt(
        self, prompt: PromptLike, variables: Mapping[str, Any] | None,
        functions: Mapping[str, ToolFunction], *, config: str | ModelConfig | None = None,
        default_config: str = "default", metadata: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> Trajectory:
        """Render `prompt` and run its tools with `functions`, and wait; see
        `AsyncClient.run_tools_prompt`."""
        return self._loop.run(self._async.run_tools_prompt(
            prompt, variables, functions, config=config, default_config=default_config,
            metadata=metadata, **options))

    def stream_prompt(
        self, prompt: PromptLike, variables: Mapping[str, Any] | None = None, *,
        config: str | ModelConfig | None = None, default_config: str = "default",
        metadata: Mapping[str, Any] | None = None, **options: Any,
    ) -> Generator[StreamEvent, None, None]:
        """Render `prompt` and stream the call with the prompt's own settings."""
        messages, chosen = prompt_call(prompt, variables, config=config,
                                       default_config=default_config, metadata=metadata)
        return self.stream(messages, **chosen, **options)

    def _iterate(
        self, events: AsyncGenerator[StreamEvent, None]
    ) -> Generator[StreamEvent, None, None]:
        try:
            while True:
                try:
                    event = self._loop.run(_next(events))
                except StopAsyncIteration:
                    return
                yield event
        finally:
            self._loop.run(events.aclose())

    def close(self) -> None:
        """Close connections and stop the loop thread."""
        self._finalizer.detach()
        self._loop.close(self._async.aclose())

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


async def _next(events: AsyncIterator[StreamEvent]) -> StreamEvent:
    return await events.__anext__()


def _checked_tools(tools: Sequence[ToolSpec | Mapping[str, Any]],
                   output: OutputSpec) -> tuple[ToolSpec, ...]:
    """The offered tools as specs, each schema valid and each name its own (the output's
    own tool included: a reply calling that name is the answer)."""
    specs = tuple(t if isinstance(t, ToolSpec) else ToolSpec.model_validate(t) for t in tools)
    names = [spec.name for spec in specs]
    if output.mode == "tool" and output.tool is not None:
        names.append(output.tool.name)
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise UsageError(f"two tools share the name {repeated[0]!r} (the output's tool "
                         "counts too)")
    for spec in specs:
        check_schema(spec.parameters, f"the parameters of the tool {spec.name!r}")
    return specs


def _tool_mismatch(offered: set[str], functions: set[str]) -> str:
    if not offered:
        return "run_tools needs tools to offer: tools=[ToolSpec(...)] or a prompt's `tools:`"
    problems = [f"no function for the tool(s) {', '.join(sorted(offered - functions))}"
                if offered - functions else "",
                f"functions for tools not offered: {', '.join(sorted(functions - offered))}"
                if functions - offered else ""]
    return "; ".join(p for p in problems if p)


def _checked(messages: Sequence[Message]) -> tuple[Message, ...]:
    if isinstance(messages, str | bytes) or not isinstance(messages, Sequence):
        raise UsageError("messages must be a list of {'role': ..., 'content': ...} dicts")
    if not messages:
        raise UsageError("messages must not be empty")
    for i, message in enumerate(messages):
        if not isinstance(message, Mapping) or "role" not in message:
            raise UsageError(f"message {i} is not a dict with a 'role'")
    return tuple(dict(m) for m in messages)
