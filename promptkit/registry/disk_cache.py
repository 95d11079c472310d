"""The last known copy of each resolved prompt on local disk: written atomically, verified
against its hash on read, so a service can keep serving while the registry is unreachable."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from promptkit.errors import IntegrityError
from promptkit.files import write_atomically
from promptkit.registry.published import load_verified
from promptkit.templates.prompt import Prompt

__all__ = ["CachedPrompt", "DiskCache"]

FORMAT = 1
log = logging.getLogger("promptkit.registry")


@dataclass(frozen=True)
class CachedPrompt:
    """A verified copy read back from disk."""

    prompt: Prompt
    label: str | None
    ledger_id: int | None
    saved_at: str


class DiskCache:
    """`<root>/pins/<name>/<env>.json` and `<root>/versions/<name>/<version>.json`."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, name: str, *, env: str | None = None, version: str | None = None) -> Path:
        if env is not None:
            return self.root / "pins" / name / f"{env}.json"
        return self.root / "versions" / name / f"{version}.json"

    def save(self, prompt: Prompt, *, env: str | None, ledger_id: int | None, saved_at: str
             ) -> None:
        """Write one entry atomically; a failure warns and never breaks the caller."""
        entry = {
            "format": FORMAT, "name": prompt.name, "version": prompt.version, "env": env,
            "content_hash": prompt.content_hash, "ledger_id": ledger_id,
            "saved_at": saved_at, "source": prompt.source,
        }
        path = self.path(prompt.name, env=env, version=prompt.version)
        try:
            write_atomically(path, json.dumps(entry, ensure_ascii=False, indent=1))
        except OSError as error:
            log.warning("promptkit: cannot keep a last-known copy at %s: %s", path, error)

    def load(self, name: str, *, env: str | None = None, version: str | None = None
             ) -> CachedPrompt | None:
        """The verified entry, or None when there is none or it does not verify."""
        path = self.path(name, env=env, version=version)
        try:
            entry: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as error:
            log.warning("promptkit: ignoring unreadable last-known copy %s: %s", path, error)
            return None
        try:
            prompt = load_verified(
                entry["name"], entry["version"], entry["source"], entry["content_hash"]
            )
        except (KeyError, TypeError, IntegrityError) as error:
            log.warning("promptkit: ignoring last-known copy %s: %s", path, error)
            return None
        return CachedPrompt(prompt, env, entry.get("ledger_id"), str(entry.get("saved_at")))


