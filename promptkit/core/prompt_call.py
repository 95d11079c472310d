"""One way to call a prompt: its metadata (model config, output spec, temperature, token
limit) becomes the call's options, here and nowhere else. The CLI, the eval runner and
applications call `client.call_prompt(prompt, variables)`.

The core sits below the prompt files, so a prompt is anything shaped like one
(`promptkit.templates.Prompt` is).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from promptkit.core.types import Message, ModelConfig, OutputSpec, ToolSpec

__all__ = ["PromptLike", "prompt_call", "prompt_options"]


class _Meta(Protocol):
    @property
    def model(self) -> str | ModelConfig | None: ...
    @property
    def output(self) -> OutputSpec: ...
    @property
    def max_tokens(self) -> int | None: ...
    @property
    def tools(self) -> tuple[ToolSpec, ...]: ...
    @property
    def effective_temperature(self) -> float | None: ...


class PromptLike(Protocol):
    """What `call_prompt` needs of a prompt."""

    @property
    def name(self) -> str: ...
    @property
    def version(self) -> str: ...
    @property
    def content_hash(self) -> str: ...
    @property
    def meta(self) -> _Meta: ...

    def render(self, variables: dict[str, Any] | None = None, /,
               **more: Any) -> list[Message]: ...


def prompt_options(prompt: PromptLike, *, config: str | ModelConfig | None = None,
                   default_config: str = "default",
                   metadata: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The keyword arguments of `call`/`stream`/`run_tools` for `prompt`: `config`
    overrides the prompt's own model config (else `default_config`); `metadata` joins the
    prompt's name, version and content hash (which every call log entry and trace then
    carries), and what a resolved prompt adds (its label and canary arm); the tools it
    declares are offered."""
    meta = prompt.meta
    return {
        "config": config or meta.model or default_config, "output": meta.output,
        "temperature": meta.effective_temperature, "max_tokens": meta.max_tokens,
        "tools": meta.tools,
        "metadata": {"prompt": prompt.name, "version": prompt.version,
                     "content_hash": prompt.content_hash,
                     **getattr(prompt, "call_metadata", {}), **(metadata or {})},
    }  # fmt: skip


def prompt_call(prompt: PromptLike, variables: Mapping[str, Any] | None = None, *,
                config: str | ModelConfig | None = None, default_config: str = "default",
                metadata: Mapping[str, Any] | None = None
                ) -> tuple[list[Message], dict[str, Any]]:
    """`prompt` rendered with `variables`, and the options of its call (`prompt_options`):
    what `call_prompt` and `stream_prompt` send. The call's metadata keeps the `variables`
    (so a logged call can become an eval case: `promptkit.evals.reviews.add_to_dataset`)."""
    given = dict(variables or {})
    return prompt.render(given), prompt_options(
        prompt, config=config, default_config=default_config,
        metadata={"variables": given, **(metadata or {})})
