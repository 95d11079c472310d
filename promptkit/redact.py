"""The one secret scrubber: what recordings, the call log, reports and error messages pass
through before anything is written.

Three nets, so that a key is caught however it travels:
- strings **shaped** like a credential: OpenAI (`sk-`, `sk-proj-`), Anthropic (`sk-ant-`),
  Google (`AIza…`, `ya29.…` OAuth tokens), Hugging Face (`hf_…`), AWS access key ids
  (`AKIA…`, `ASIA…`) and secret keys written as `aws_secret_access_key=…`, Azure keys in an
  `api-key:` header or a `sig=`/`AccountKey=` string, GitHub, Groq, xAI, Perplexity,
  Replicate and Slack tokens, and any `Bearer …` token;
- the values of **fields** named like credentials (`api_key`, `authorization`, `x-api-key`…);
- the literal **values** of environment variables whose names say they hold a secret
  (`*_API_KEY`, `*_TOKEN`, `*_SECRET`, `*_PASSWORD`…) and of every variable a model config
  names as its key (`api_key_env`), however they are named.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["KEY_SHAPES", "REDACTED", "Scrubber", "remember_secret", "scrub_text"]

REDACTED = "[REDACTED]"

_SHAPES = (
    # (what every match holds, lowercased; the shape)
    # OpenAI, Anthropic (sk-ant-), DeepSeek, Stripe-like
    (("sk-", "pk-", "rk-"), r"\b(?:sk|pk|rk)-[A-Za-z0-9_\-]{16,}"),
    (("bearer",), r"(?i:\bbearer\s+)[A-Za-z0-9._~+/=\-]{8,}"),
    (("aiza",), r"\bAIza[0-9A-Za-z_\-]{35}"),  # Google API key
    (("ya29.",), r"\bya29\.[0-9A-Za-z_\-]{20,}"),  # Google OAuth access token
    (("gsk_", "hf_", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "xai_", "pplx_", "r8_"),
     r"\b(?:gsk|hf|ghp|gho|ghu|ghs|ghr|xai|pplx|r8)_[A-Za-z0-9]{20,}"),
    (("xai-", "pplx-"), r"\b(?:xai|pplx)-[A-Za-z0-9]{20,}"),
    (("github_pat_",), r"\bgithub_pat_[A-Za-z0-9_]{20,}"),
    (("xox",), r"\bxox[abpr]-[A-Za-z0-9\-]{10,}"),  # Slack
    (("akia", "asia"), r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),  # AWS access key id
    (("aws_secret_access_key",), r"(?i:aws_secret_access_key\s*[=:]\s*)[A-Za-z0-9/+=]{40}"),
    # Azure OpenAI / Cognitive Services key
    (("api-key",), r"(?i:\bapi-key\s*[=:]\s*)[A-Za-z0-9]{32,}"),
    (("accountkey=", "sharedaccesskey=", "sig="),
     r"(?i:\b(?:AccountKey|SharedAccessKey|sig)=)[A-Za-z0-9%/+=]{20,}"),  # Azure storage
)
KEY_SHAPES = tuple(shape for _, shape in _SHAPES)
"""The credential shapes every scrubber matches, one regular expression each."""
_TRIGGERS = tuple(sorted({trigger for triggers, _ in _SHAPES for trigger in triggers}))
"""Substrings (lowercase) one of which an ASCII text must hold for any shape to match in it:
a text with none of them and no literal secret is returned as it is, without running the
pattern (which costs about 0.4 µs per character, every call's every string)."""

_SECRET_FIELDS = (r"authorization|proxy-authorization|api[-_]?key|x-api-key|x-goog-api-key"
                  r"|access[-_]?token|refresh[-_]?token|secret|client[-_]?secret|password")
_SECRET_FIELD = re.compile(rf"(?i)^({_SECRET_FIELDS})$")
_SECRET_FIELD_IN_JSON = re.compile(rf'"({_SECRET_FIELDS})"\s*:')
"""Such a key as it appears in lowercased JSON text."""
_SECRET_ENV = re.compile(r"(?i)(api[-_]?key|_key$|token|secret|password)")
_MIN_ENV_SECRET = 8
_REMEMBERED: set[str] = set()
_REMEMBERED_LOCK = threading.Lock()  # the client adds keys from its loop thread


def remember_secret(value: str) -> None:
    """Hide `value` from every scrubber made from now on in this process: the client calls
    it with each API key it reads, so a key under any variable name is scrubbed too."""
    if len(value) >= _MIN_ENV_SECRET:
        with _REMEMBERED_LOCK:
            _REMEMBERED.add(value)


class Scrubber:
    """Replaces anything that looks like a credential with `[REDACTED]`.

    `environ` (default: the process's) supplies the literal values of secret-named
    variables; `also` adds literal values to hide whatever their names (the variables
    model configs name as keys), and so does every key the client has read
    (`remember_secret`).
    """

    def __init__(self, environ: Mapping[str, str] | None = None,
                 also: Iterable[str] = ()) -> None:
        env = _snapshot(os.environ) if environ is None else dict(environ)
        literals = {v for k, v in env.items() if _SECRET_ENV.search(k)}
        with _REMEMBERED_LOCK:
            literals |= set(also) | _REMEMBERED
        ordered = sorted((v for v in literals if len(v) >= _MIN_ENV_SECRET), key=len,
                         reverse=True)
        self._literals = tuple(ordered)
        self._literals_json_safe = all(json.dumps(v)[1:-1] == v for v in ordered)
        """Whether each literal reads the same inside JSON text (no quote, backslash...)."""
        self._pattern = re.compile("|".join([*map(re.escape, ordered), *KEY_SHAPES]))

    def text(self, value: str) -> str:
        """`value` with every secret-looking substring replaced."""
        if value.isascii() and not self._may_hold_secret(value):
            return value
        return self._pattern.sub(REDACTED, value)

    def _may_hold_secret(self, value: str, lowered: str | None = None) -> bool:
        """False only when no shape and no literal can match `value` (an ASCII text: its
        lowercase form, `lowered`, holds every case-insensitive match's letters as they are)."""
        lowered = value.lower() if lowered is None else lowered
        return (any(trigger in lowered for trigger in _TRIGGERS)
                or any(literal in value for literal in self._literals))

    def clean(self, json_text: str | bytes) -> bool:
        """True when the JSON document `json_text` holds nothing `data` would change: ASCII
        with no letter written as an escape (`\\u`, `\\/`: a secret could hide behind one),
        no credential's fixed part, no literal secret, no field named like a credential.
        One look at the whole text, so the parsed document need not be walked string by
        string (the usual case). The other escapes stand for quotes, backslashes and
        control characters, which no fixed part and no literal (`_literals_json_safe`) holds."""
        if not (self._literals_json_safe and json_text.isascii()):
            return False
        if isinstance(json_text, bytes):  # the body as sent or received
            json_text = json_text.decode("ascii")
        if "\\u" in json_text or "\\/" in json_text:
            return False
        lowered = json_text.lower()
        return (not self._may_hold_secret(json_text, lowered)
                and _SECRET_FIELD_IN_JSON.search(lowered) is None)

    def data(self, value: Any) -> Any:
        """JSON-able `value` with secrets replaced in every string and secret field: a copy
        when anything is replaced, `value` itself when its JSON text shows nothing to
        replace (`clean`: one serialisation in C instead of a walk through every string)."""
        if isinstance(value, str):
            return self.text(value)
        return value if self.clean_data(value) else self._walk(value)

    def clean_data(self, value: Any) -> bool:
        """True when JSON-able `value` holds nothing `data` would change (`clean` of its JSON
        text); False too when it is not JSON (a set, a circular list), which `data` walks."""
        try:
            shown = json.dumps(value, ensure_ascii=False)
        except (TypeError, ValueError):
            return False
        return self.clean(shown)

    def _walk(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {k: REDACTED if _SECRET_FIELD.match(str(k)) and v else self._walk(v)
                    for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._walk(v) for v in value]
        return value


def _snapshot(environ: Mapping[str, str]) -> dict[str, str]:
    """A copy of the environment; another thread (pytest sets PYTEST_CURRENT_TEST around
    every test) may change it while it is read, so a copy that raised is taken again."""
    for _ in range(10):
        try:
            return dict(environ)
        except RuntimeError:  # changed size during iteration
            continue
    return dict(environ)


def scrub_text(value: str, also: Iterable[str] = ()) -> str:
    """`value` scrubbed against the current environment (and `also`)."""
    return Scrubber(also=also).text(value)
