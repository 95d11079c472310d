"""Keeping secrets out of recordings: key-shaped strings, secret-named fields, secret env values."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["REDACTED", "Scrubber"]

REDACTED = "<redacted>"

_KEY_PATTERNS = (
    r"\bsk-[A-Za-z0-9_\-]{16,}",  # OpenAI (sk-, sk-proj-), Anthropic (sk-ant-), DeepSeek, ...
    r"(?i:\bbearer\s+)[A-Za-z0-9._~+/=\-]{8,}",
    r"\bAIza[0-9A-Za-z_\-]{35}",  # Google
    r"\b(?:gsk|hf|ghp|gho|ghu|ghs|ghr|xai|pplx|r8)[_-][A-Za-z0-9]{20,}",
    r"\bgithub_pat_[A-Za-z0-9_]{20,}",
    r"\bAKIA[0-9A-Z]{16}\b",  # AWS access key id
)

_SECRET_FIELD = re.compile(
    r"(?i)^(authorization|proxy-authorization|api[-_]?key|x-api-key|access[-_]?token"
    r"|secret|client[-_]?secret|password)$"
)
_SECRET_ENV = re.compile(r"(?i)(api[-_]?key|_key$|token|secret|password)")
_MIN_ENV_SECRET = 8


class Scrubber:
    """Replaces anything that looks like a credential in JSON-able data with ``<redacted>``.

    Three nets: strings shaped like provider keys (``sk-...``, ``Bearer ...``), the values
    of fields named like credentials (``api_key``, ``authorization``), and the literal values
    of environment variables named like secrets (``*_API_KEY``, ``*_TOKEN``) at creation.
    """

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        literals = sorted(
            {v for k, v in env.items() if _SECRET_ENV.search(k) and len(v) >= _MIN_ENV_SECRET},
            key=len,
            reverse=True,
        )
        parts = [re.escape(v) for v in literals] + list(_KEY_PATTERNS)
        self._pattern = re.compile("|".join(parts))

    def text(self, value: str) -> str:
        """`value` with every secret-looking substring replaced."""
        return self._pattern.sub(REDACTED, value)

    def data(self, value: Any) -> Any:
        """A copy of JSON-able `value` with secrets replaced in every string and secret field."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {
                k: REDACTED if _SECRET_FIELD.match(str(k)) and v else self.data(v)
                for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            return [self.data(v) for v in value]
        return value
