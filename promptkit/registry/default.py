"""The process-wide resolver and `promptkit.get`, light to import: the resolver (and
SQLAlchemy, Jinja and pydantic behind it) is imported when `get` is first called."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from promptkit.registry.resolver import Resolved, Resolver

__all__ = ["default_resolver", "get"]

_default: Resolver | None = None
_default_lock = threading.Lock()


def default_resolver() -> Resolver:
    """The process-wide resolver of the project's settings (built on first use)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = _build()
        return _default


def _build() -> Resolver:
    from promptkit.config import load_settings
    from promptkit.registry.resolver import Resolver
    from promptkit.registry.store import Registry
    from promptkit.templates.library import PromptLibrary

    settings = load_settings()
    return Resolver(
        Registry(settings.database_url, create=False),
        cache_dir=settings.root / ".promptkit" / "cache",
        library=PromptLibrary(settings.prompts_path), settings=settings,
        wait_s=settings.seconds("registry_wait_s"),
        timeout_s=settings.seconds("registry_timeout_s"),
        push=settings.flag("registry_push"),
        heartbeat_s=settings.seconds_or_off("registry_heartbeat_s"),
    )


def get(name: str, env: str | None = None, *, version: str | None = None,
        key: str | None = None) -> Resolved:
    """Resolve through the process-wide resolver: `promptkit.get("sentiment", env="prod")`
    (with `key=user_id` while a canary may run, so each user keeps one arm)."""
    return default_resolver().get(name, env, version=version, key=key)
