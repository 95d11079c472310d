"""The forms of `promptkit view`: a POST's fields (after the CSRF check), the required
reason, and the redirect that shows a message on the next page."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse

from promptkit.errors import UsageError
from promptkit.view.security import check_csrf
from promptkit.view.state import view_state

__all__ = ["posted", "reason_of", "redirect_with"]


async def posted(request: Request) -> dict[str, str]:
    """The form's text fields; CsrfError (403) without this process's CSRF token."""
    form = await request.form()
    fields = {k: v for k, v in form.multi_items() if isinstance(v, str)}
    check_csrf(view_state(request).csrf, fields)
    return fields


def reason_of(fields: dict[str, str]) -> str:
    """The form's reason, required: every move is kept in the ledger with why."""
    reason = fields.get("reason", "").strip()
    if not reason:
        raise UsageError("a reason is required: say why (it is kept in the ledger)")
    return reason


def redirect_with(request: Request, path: str, message: str) -> RedirectResponse:
    """303 to `path`, which shows `message` once."""
    key = view_state(request).flash(message)
    joiner = "&" if "?" in path else "?"
    return RedirectResponse(f"{path}{joiner}flash={key}", status_code=303)
