"""What every page of `promptkit view` shares: the project, its registry, who acts, the
CSRF token, the templates (every value shown passes through the secret scrubber), flashes."""

from __future__ import annotations

import json
import secrets
import threading
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

import jinja2
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse

from promptkit.config import Settings, load_settings
from promptkit.redact import Scrubber

if TYPE_CHECKING:
    from promptkit.registry import Registry

__all__ = ["ViewState", "view_state"]

_MAX_FLASHES = 1000
_SHORTEST_SECRET = 8
"""No credential shape, and no secret value the scrubber hides, is shorter (`redact`)."""


class ViewState:
    """One app's shared state (on `app.state.view`). The registry is opened on first use,
    so the server listens before SQLAlchemy is even imported."""

    def __init__(self, source: Settings | Registry, *, token: str | None = None,
                 actor: str | None = None) -> None:
        self.settings = source if isinstance(source, Settings) else load_settings()
        self._given = None if isinstance(source, Settings) else source
        self.token = token
        self.actor = actor
        self.csrf = secrets.token_urlsafe(32)
        self._flashes: dict[str, str] = {}
        self._lock = threading.Lock()

    @cached_property
    def registry(self) -> Registry:
        if self._given is not None:
            return self._given
        from promptkit.registry import Registry

        return Registry(self.settings.database_url)

    @cached_property
    def scrubber(self) -> Scrubber:
        return Scrubber(also=self.settings.key_values())

    @cached_property
    def templates(self) -> jinja2.Environment:
        env = jinja2.Environment(
            loader=jinja2.PackageLoader("promptkit.view", "templates"),
            autoescape=True, undefined=jinja2.StrictUndefined, finalize=self._shown,
            trim_blocks=True, lstrip_blocks=True)
        env.filters.update(when=_when, pretty=self.pretty, usd=_usd, short=_short)
        return env

    def _shown(self, value: Any) -> Any:
        """Every `{{ value }}` of every template, scrubbed of anything like a secret."""
        if value is None:
            return ""
        if isinstance(value, str) and len(value) < _SHORTEST_SECRET:
            return value
        if isinstance(value, Markup):
            return Markup(self.scrubber.text(str(value)))
        return self.scrubber.text(value if isinstance(value, str) else str(value))

    def pretty(self, value: Any) -> str:
        """JSON-able `value` indented, secrets (by shape and by field name) hidden."""
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                return self.scrubber.text(value)
        return json.dumps(self.scrubber.data(value), indent=2, ensure_ascii=False,
                          default=str)

    @property
    def acting_as(self) -> str:
        from promptkit.registry.records import default_actor

        return self.actor or default_actor()

    def flash(self, message: str) -> str:
        """Keep `message` for the next page (the redirect after a POST names its key)."""
        key = secrets.token_urlsafe(8)
        with self._lock:
            if len(self._flashes) >= _MAX_FLASHES:
                self._flashes.pop(next(iter(self._flashes)))
            self._flashes[key] = message
        return key

    def take_flash(self, request: Request) -> str | None:
        key = request.query_params.get("flash")
        with self._lock:
            return self._flashes.pop(key, None) if key else None

    def render(self, request: Request, template: str, *, status: int = 200,
               error: str | None = None, **context: Any) -> HTMLResponse:
        """The page `template` with `context`, the flash or `error` message, and the form
        fields every page needs (the CSRF token)."""
        page = self.templates.get_template(template).render(
            request=request, csrf=self.csrf, actor=self.acting_as, error=error,
            flash=self.take_flash(request), **context)
        return HTMLResponse(page, status_code=status)


def view_state(request: Request) -> ViewState:
    state: ViewState = request.app.state.view
    return state


def _when(value: datetime | None) -> str:
    return "" if value is None else f"{value:%Y-%m-%d %H:%M:%S}Z"


def _usd(value: float | None) -> str:
    return "" if value is None else f"${value:.6f}".rstrip("0").rstrip(".")


def _short(value: str | None, size: int = 19) -> str:
    return "" if not value else value[:size]
