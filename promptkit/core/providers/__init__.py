"""Provider adapters behind the one call API: a model config's `provider` picks one.

| `provider`         | API                                  | SDK                     |
|--------------------|--------------------------------------|-------------------------|
| `openai` (default) | Chat Completions (any compatible one) | `openai`               |
| `openai-responses` | Responses                            | `openai`                |
| `anthropic`        | Messages                             | `anthropic` (an extra)  |
"""

from __future__ import annotations

from functools import cache

from promptkit.core.providers.base import Emit, Provider, SdkOptions
from promptkit.core.types import ModelConfig
from promptkit.errors import ConfigError

__all__ = ["Emit", "Provider", "SdkOptions", "provider_of"]


@cache
def _provider(name: str) -> Provider:
    """The adapter of a provider name, its module imported on first use."""
    if name == "openai":
        from promptkit.core.providers.openai_chat import OpenAIChat

        return OpenAIChat()
    if name == "openai-responses":
        from promptkit.core.providers.openai_responses import OpenAIResponses

        return OpenAIResponses()
    if name == "anthropic":
        try:
            from promptkit.core.providers.anthropic_messages import AnthropicMessages
        except ImportError as error:
            raise ConfigError("provider 'anthropic' needs the anthropic SDK: "
                              "pip install 'promptkit[anthropic]'") from error
        return AnthropicMessages()
    raise ConfigError(f"unknown provider {name!r}: expected openai, openai-responses or "
                      f"anthropic")


def provider_of(config: ModelConfig) -> Provider:
    """The adapter a model config calls through."""
    return _provider(config.provider)
