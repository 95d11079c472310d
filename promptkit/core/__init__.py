"""The reliability core: one model call done right (no Jinja, registry or pytest here)."""

from promptkit.core.types import Capability, Message, ModelConfig, OutputMode, OutputSpec, ToolSpec

__all__ = ["Capability", "Message", "ModelConfig", "OutputMode", "OutputSpec", "ToolSpec"]
