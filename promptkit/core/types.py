"""The shared vocabulary of a model call: model configs, output specs, messages."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from promptkit.redact import scrub_text

__all__ = [
    "Capability",
    "Message",
    "ModelConfig",
    "OutputMode",
    "OutputSpec",
    "Provider",
    "ToolSpec",
]

Message = dict[str, Any]
"""A chat message as the OpenAI API takes it: {"role": ..., "content": ...}."""

Capability = Literal["json_schema", "json_object_schema", "json_object", "tool", "prompt"]
"""How an endpoint can be made to return structured output. `json_object_schema` is JSON
mode constrained by the schema, as llama.cpp's server offers
(`response_format: {"type": "json_object", "schema": ...}`)."""

OutputMode = Literal["json_schema", "json_object", "tool", "text"]
"""What a prompt asks for: JSON matching a schema, any JSON object, a tool call, or text."""


Provider = Literal["openai", "openai-responses", "anthropic"]
"""Which API a config calls: OpenAI Chat Completions (and every OpenAI-compatible endpoint),
OpenAI Responses, or Anthropic Messages."""

_KEY_ENV = {"anthropic": "ANTHROPIC_API_KEY"}
_CREDENTIAL_HEADERS = frozenset({"authorization", "api-key", "x-api-key", "x-goog-api-key"})


class ModelConfig(BaseModel):
    """A named model configuration: which provider, endpoint and model, and how to call it.

    The API key itself is never stored: only the *name* of the environment variable that
    holds it (`api_key_env`; by default OPENAI_API_KEY, or ANTHROPIC_API_KEY for
    `provider = "anthropic"`), sent as the provider's usual credential or, with
    `api_key_header`, in that header (Azure: `api-key`). `headers` and `query` are sent
    with every request (Azure: `query = {"api-version": "2024-10-21"}`); they are stored
    like every other field, so they must hold no secret.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "default"
    model: str
    provider: Provider = "openai"
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    api_key_header: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    query: dict[str, str] = Field(default_factory=dict)
    organization: str | None = None
    project: str | None = None
    capability: Capability = "json_schema"
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, gt=0)
    fallback: tuple[str, ...] = ()
    price_in: float | None = Field(default=None, ge=0, description="USD per 1M input tokens")
    price_out: float | None = Field(default=None, ge=0, description="USD per 1M output tokens")
    context_window: int | None = Field(default=None, gt=0)
    timeout_s: float = Field(default=60.0, gt=0, description="per HTTP attempt")
    max_retries: int | None = Field(
        default=None, ge=0,
        description="retries of a transient failure on this config (attempts = 1 + this); "
        "None: the client's retry policy",
    )

    @model_validator(mode="before")
    @classmethod
    def _provider_key(cls, data: Any) -> Any:
        """The provider's usual key variable, unless the config names one."""
        if isinstance(data, dict) and "api_key_env" not in data:
            default = _KEY_ENV.get(str(data.get("provider")))
            if default is not None:
                return {**data, "api_key_env": default}
        return data

    @field_validator("headers")
    @classmethod
    def _no_secret_headers(cls, headers: dict[str, str]) -> dict[str, str]:
        for name, value in headers.items():
            if scrub_text(value) != value or name.lower() in _CREDENTIAL_HEADERS:
                raise ValueError(
                    f"header {name!r} looks like a credential; a config is stored, so put the "
                    f"key in an environment variable named by api_key_env and send it with "
                    f"api_key_header = {name!r}")
        return headers


class ToolSpec(BaseModel):
    """A function the model is asked to call; `parameters` is a JSON Schema."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object"})


class OutputSpec(BaseModel):
    """The output a prompt expects."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    mode: OutputMode = "text"
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    tool: ToolSpec | None = None

    @property
    def json_schema(self) -> dict[str, Any] | None:
        """The schema the parsed output must satisfy (the tool's parameters in tool mode)."""
        if self.mode == "tool" and self.tool is not None:
            return self.tool.parameters
        return self.schema_

    @property
    def structured(self) -> bool:
        return self.mode != "text"
