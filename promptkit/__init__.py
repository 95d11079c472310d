"""promptkit: prompts releasable like code: versioned, tested, gated, pinned, rolled back.

    import promptkit

    resolved = promptkit.get("sentiment", env="production")   # the pinned version, cached
    messages = resolved.render(text="I love it")
    with promptkit.Client(promptkit.model_configs()) as client:
        result = client.call_prompt(resolved.prompt, {"text": "I love it"})

Names are imported on first use, so `import promptkit` (and the pytest plugin) stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from promptkit.lazy import lazy_attributes

if TYPE_CHECKING:
    from promptkit.core import AsyncClient, CallResult, Client, ModelConfig, OutputSpec
    from promptkit.errors import PromptkitError
    from promptkit.registry import Registry, Resolved, Resolver, get, model_configs
    from promptkit.registry.feedback import feedback
    from promptkit.templates import Prompt, PromptLibrary, parse_prompt

__all__ = [
    "AsyncClient",
    "CallResult",
    "Client",
    "ModelConfig",
    "OutputSpec",
    "Prompt",
    "PromptLibrary",
    "PromptkitError",
    "Registry",
    "Resolved",
    "Resolver",
    "feedback",
    "get",
    "model_configs",
    "parse_prompt",
]


if not TYPE_CHECKING:  # type checkers see the imports above: a typo is an error
    __getattr__ = lazy_attributes(__name__)
