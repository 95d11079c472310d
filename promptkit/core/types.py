"""The shared vocabulary of a model call: model configs, output specs, messages."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Capability", "Message", "ModelConfig", "OutputMode", "OutputSpec", "ToolSpec"]

Message = dict[str, Any]
"""A chat message as the OpenAI API takes it: {"role": ..., "content": ...}."""

Capability = Literal["json_schema", "json_object_schema", "json_object", "tool", "prompt"]
"""How an endpoint can be made to return structured output. `json_object_schema` is JSON
mode constrained by the schema, as llama.cpp's server offers
(`response_format: {"type": "json_object", "schema": ...}`)."""

OutputMode = Literal["json_schema", "json_object", "tool", "text"]
"""What a prompt asks for: JSON matching a schema, any JSON object, a tool call, or text."""


class ModelConfig(BaseModel):
    """A named model configuration: which endpoint and model, and how to call it.

    The API key itself is never stored: only the *name* of the environment
    variable that holds it.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "default"
    model: str
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
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
