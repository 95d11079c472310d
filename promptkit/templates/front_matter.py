"""The front matter of a prompt file: a strict model that rejects unknown keys."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from promptkit.core.types import ModelConfig, OutputSpec, ToolSpec

__all__ = ["TASK_TEMPERATURES", "PromptMeta", "Task"]

Task = Literal[
    "classification",
    "extraction",
    "code",
    "summarization",
    "translation",
    "generation",
    "chat",
    "brainstorming",
]

TASK_TEMPERATURES: dict[str, float] = {
    "classification": 0.0,
    "extraction": 0.0,
    "code": 0.2,
    "summarization": 0.3,
    "translation": 0.3,
    "generation": 0.7,
    "chat": 0.7,
    "brainstorming": 0.9,
}
"""The one presets table: a prompt's default temperature, by task."""

NAME_PATTERN = r"^[a-z0-9][a-z0-9_.-]*$"


class PromptMeta(BaseModel):
    """Everything the YAML front matter of a `.prompt` file may say."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=NAME_PATTERN)
    version: str
    description: str = ""
    model: str | ModelConfig | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, gt=0)
    inputs: dict[str, Any] = Field(default_factory=dict)
    output: OutputSpec = Field(default_factory=OutputSpec)
    tools: tuple[ToolSpec, ...] = ()
    task: Task | None = None
    tags: tuple[str, ...] = ()
    owner: str | None = None

    @field_validator("version", mode="before")
    @classmethod
    def _version_as_text(cls, value: Any) -> Any:
        # YAML reads `version: 1.2` as a float; the file means the text "1.2".
        return str(value) if isinstance(value, int | float) else value

    @property
    def effective_temperature(self) -> float | None:
        """The temperature to request: the declared one, else the task's preset."""
        if self.temperature is not None:
            return self.temperature
        return TASK_TEMPERATURES.get(self.task) if self.task else None

    @property
    def model_name(self) -> str | None:
        """The model-config name this prompt refers to (None for inline settings)."""
        return self.model if isinstance(self.model, str) else None
