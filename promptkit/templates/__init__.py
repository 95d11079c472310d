"""Prompt files: the format, loading, sandboxed rendering, lint and git provenance."""

from promptkit.templates.front_matter import TASK_TEMPERATURES, PromptMeta
from promptkit.templates.library import PromptLibrary
from promptkit.templates.lint import Finding, lint
from promptkit.templates.parse import parse_prompt
from promptkit.templates.prompt import Prompt, Section
from promptkit.templates.versions import latest, next_version, parse_ref, sort_versions

__all__ = [
    "TASK_TEMPERATURES",
    "Finding",
    "Prompt",
    "PromptLibrary",
    "PromptMeta",
    "Section",
    "latest",
    "lint",
    "next_version",
    "parse_prompt",
    "parse_ref",
    "sort_versions",
]
