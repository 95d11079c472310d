"""The safety of `promptkit view`: who may ask (host names, the access token), which
requests may change anything (same origin, CSRF token), and the headers of every response.

- **Host**: without a token only loopback names are served (`127.0.0.1`, `localhost`,
  `[::1]`), so a page that rebinds its own DNS name to 127.0.0.1 gets nothing.
- **Token**: when set, every request carries it, once as `?token=` (answered with an
  HttpOnly, SameSite=Strict cookie and a redirect that drops it from the address), then as
  the cookie.
- **Writes**: a request other than GET/HEAD must come from this origin (`Origin`, else
  `Referer`) and carry the process's CSRF token in its form (`check_csrf`).
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from urllib.parse import urlencode

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "COOKIE",
    "LOOPBACK_NAMES",
    "SECURITY_HEADERS",
    "CsrfError",
    "Guard",
    "check_csrf",
    "same_origin",
]

COOKIE = "promptkit_view"
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"),
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}
_SAFE_METHODS = frozenset({"GET", "HEAD"})


class CsrfError(Exception):
    """A state-changing request without this process's CSRF token."""


def check_csrf(expected: str, form: Mapping[str, object]) -> None:
    """Raise CsrfError unless the form's `csrf` field is `expected` (constant time)."""
    given = form.get("csrf")
    if not isinstance(given, str) or not hmac.compare_digest(given.encode(), expected.encode()):
        raise CsrfError("the form's CSRF token is missing or wrong: reload the page")


def same_origin(request: Request) -> bool:
    """Whether the request says it comes from a page of this origin (`Origin`, else
    `Referer`); a request that says neither is refused."""
    own = f"{request.url.scheme}://{request.headers.get('host', '')}"
    origin = request.headers.get("origin")
    if origin is not None:
        return hmac.compare_digest(origin, own)
    referer = request.headers.get("referer", "")
    return referer == own or referer.startswith(f"{own}/")


class Guard:
    """ASGI middleware: host names, the token, the origin of writes, security headers."""

    def __init__(self, app: ASGIApp, *, token: str | None) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        response = self._refusal(request) or self._login(request)
        sender = _with_headers(send)
        if response is not None:
            await response(scope, receive, sender)
        else:
            await self.app(scope, receive, sender)

    def _refusal(self, request: Request) -> Response | None:
        if self.token is None and request.url.hostname not in LOOPBACK_NAMES:
            return PlainTextResponse(
                f"promptkit view serves only 127.0.0.1/localhost without a token, not "
                f"{request.url.hostname!r}", status_code=421)
        if self.token is not None and not self._has_token(request):
            return PlainTextResponse("this promptkit view needs its token: open the address "
                                     "it printed (…?token=…)", status_code=401)
        if request.method not in _SAFE_METHODS and not same_origin(request):
            return PlainTextResponse("refused: a change must come from a page of this site "
                                     "(cross-site request)", status_code=403)
        return None

    def _has_token(self, request: Request) -> bool:
        given = request.query_params.get("token") or request.cookies.get(COOKIE) or ""
        assert self.token is not None
        return hmac.compare_digest(given.encode(), self.token.encode())

    def _login(self, request: Request) -> Response | None:
        """`?token=` once: set the cookie and drop the token from the address."""
        if self.token is None or "token" not in request.query_params:
            return None
        rest = urlencode([(k, v) for k, v in request.query_params.multi_items() if k != "token"])
        response = RedirectResponse(request.url.path + (f"?{rest}" if rest else ""), 303)
        response.set_cookie(COOKIE, self.token, httponly=True, samesite="strict", path="/")
        return response


def _with_headers(send: Send) -> Send:
    async def sender(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = MutableHeaders(scope=message)
            for name, value in SECURITY_HEADERS.items():
                headers.setdefault(name, value)
        await send(message)
    return sender
