"""What every provider adapter maps to and from: one reply in promptkit's words, and the
adapter contract the attempt loop calls.

An adapter turns promptkit's chat-shaped messages (`{"role", "content"}`, assistant
`tool_calls`, `tool` results: the OpenAI Chat form every prompt renders to) and an output
plan into its API's request, sends it through its official SDK, and reads the answer back
into a `ProviderReply`: the text, the tool calls, a finish reason in the Chat vocabulary (`stop`,
`length`, `tool_calls`, `content_filter`), a refusal, the usage, and the provider's own
response id. Retries, re-asks, validation, deadlines and cost stay in the attempt loop,
written once for every provider.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from promptkit.core.failures import Failure
from promptkit.core.results import ProviderReply
from promptkit.core.streaming import TextDelta, ToolCallDelta
from promptkit.core.structured import OutputPlan
from promptkit.core.types import Capability, Message, ModelConfig

__all__ = ["Emit", "Provider", "PublicMethod", "SdkOptions", "content_text", "sdk_arguments"]

Emit = Callable[[TextDelta | ToolCallDelta], None]
"""Where a streamed attempt hands each delta as it arrives."""


@dataclass(frozen=True)
class SdkOptions:
    """How to build one SDK client for a model config (the key already read)."""

    api_key: str
    base_url: str | None
    timeout_s: float
    headers: Mapping[str, str]
    query: Mapping[str, str]
    http_client: Any


class Provider(Protocol):
    """One API, behind the one call API."""

    name: str
    """The provider as the GenAI conventions name it (`gen_ai.provider.name`)."""

    def client(self, config: ModelConfig, options: SdkOptions) -> Any:
        """An SDK client that never retries (the attempt loop's schedule is the only one)."""
        ...

    def technique(self, capability: Capability) -> Capability:
        """The structured-output route this API takes for a config's capability."""
        ...

    def params(self, config: ModelConfig, plan: OutputPlan, temperature: float | None,
               max_tokens: int | None) -> dict[str, Any]:
        """The request's parameters, without the messages (what the call log keeps)."""
        ...

    def payload(self, messages: list[Message]) -> dict[str, Any]:
        """The request's messages, in this API's form."""
        ...

    async def send(self, sdk: Any, config: ModelConfig, body: dict[str, Any], *,
                   emit: Emit | None) -> ProviderReply:
        """One request; streamed when `emit` is given (each delta handed on as it arrives;
        a stream cut short raises `StreamCutError`)."""
        ...

    def classify(self, exc: BaseException) -> Failure | None:
        """Transient or fatal for this SDK's errors; None for anything else."""
        ...


def sdk_arguments(body: Mapping[str, Any], names: Collection[str],
                  omitted_headers: Mapping[str, Any]) -> dict[str, Any]:
    """A request body as keyword arguments of an SDK method: the parameters it names, the
    rest (vendor options) in `extra_body`, and the headers to leave out (the SDK's `omit`
    values: a config with `api_key_header` sends its key there and nowhere else)."""
    arguments = {k: v for k, v in body.items() if k in names}
    extra = {k: v for k, v in body.items() if k not in names}
    if extra:
        arguments["extra_body"] = extra
    if omitted_headers:
        arguments["extra_headers"] = dict(omitted_headers)
    return arguments


class PublicMethod:
    """An SDK's public method (`AsyncCompletions.create`), watched for wrappers.

    The OpenAI SDK's `create` walks every request body against its TypedDicts before
    sending it: about 0.44 ms of CPU for a two-message chat request, more than everything
    promptkit does in a call. An adapter therefore posts the same body directly, unless
    something has wrapped the method (opentelemetry-instrumentation-openai-v2, OpenLLMetry
    and the like replace it on the class); then it calls the method, so the wrapper sees
    every call. `wrapped()` is one dictionary lookup, made per call: an instrumentation
    installed after promptkit is imported is seen from its first call on."""

    def __init__(self, owner: type, name: str) -> None:
        self.owner, self.name = owner, name
        self._original = owner.__dict__[name]
        self.parameters = frozenset(inspect.signature(self._original).parameters) - {"self"}
        """What the method names (the rest of a body goes in its `extra_body`)."""

    def wrapped(self) -> bool:
        return self.owner.__dict__.get(self.name) is not self._original


def content_text(content: Any) -> str:
    """A chat message's content as text: the string, or its text parts joined."""
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return str(content or "")
