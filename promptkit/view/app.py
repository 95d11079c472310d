"""`create_app`: the Starlette app of `promptkit view`, its URL table and error pages.

Each page's module is imported on its first request (`PAGES`), so the server listens before
SQLAlchemy, pandas and the eval stack are loaded.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from promptkit.config import Settings
from promptkit.errors import NotPublishedError, PromptkitError
from promptkit.view.security import CsrfError, Guard
from promptkit.view.state import ViewState

if TYPE_CHECKING:
    from promptkit.registry import Registry

__all__ = ["PAGES", "create_app", "warm_up"]

Endpoint = Callable[[Request], Awaitable[Response]]

PAGES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("/prompts", "prompts:index", ("GET",)),
    ("/prompts/{name}", "prompts:versions", ("GET",)),
    ("/prompts/{name}/diff", "prompts:diff", ("GET",)),
    ("/prompts/{name}/v/{version}", "prompts:version", ("GET",)),
    ("/envs", "environments:index", ("GET",)),
    ("/envs/{env}", "environments:environment", ("GET",)),
    ("/envs/{env}/rollback", "environments:rollback", ("POST",)),
    ("/envs/{env}/move", "environments:move", ("POST",)),
    ("/requests/{request_id:int}", "environments:decide", ("POST",)),
    ("/runs", "runs:index", ("GET",)),
    ("/runs/{prompt}/{suite}", "runs:compare", ("GET",)),
    ("/results/{result_id:int}", "runs:result", ("GET",)),
    ("/suites/{suite}/labels", "runs:export_labels", ("POST",)),
    ("/gates", "gates:index", ("GET",)),
    ("/gates/{name}/{gate_id:int}", "gates:gate", ("GET",)),
    ("/calls", "calls:index", ("GET",)),
    ("/calls/{call_id}", "calls:call", ("GET",)),
    ("/calls/{call_id}/dataset", "calls:add_to_dataset", ("POST",)),
    ("/charts", "charts:index", ("GET",)),
    ("/queue", "reviews:queue", ("GET",)),
    ("/reviews", "reviews:save", ("POST",)),
)
"""(path, `module:function` of promptkit.view.pages, methods): every page and action."""


def create_app(source: Settings | Registry, *, token: str | None = None,
               actor: str | None = None) -> Starlette:
    """The app over `source`'s database (a project's settings, or a registry). With `token`,
    every request must carry it; `actor` (default: `PROMPTKIT_ACTOR`, else user@host) is who
    pins, rolls back, approves and reviews."""
    routes: list[Route | Mount] = [Route("/", _home)]
    routes += [Route(path, _lazy(target), methods=list(methods))
               for path, target, methods in PAGES]
    routes.append(Mount("/static", StaticFiles(packages=[("promptkit.view", "static")]),
                        name="static"))
    app = Starlette(routes=routes, middleware=[Middleware(Guard, token=token)],
                    exception_handlers={CsrfError: _forbidden, PromptkitError: _refused})
    app.state.view = ViewState(source, token=token, actor=actor)
    return app


def warm_up() -> None:
    """Import every page's module (and so the registry and the eval stack) ahead of the
    first request; `promptkit view` calls it once it listens."""
    for module in sorted({target.split(":")[0] for _, target, _ in PAGES}):
        importlib.import_module(f"promptkit.view.pages.{module}")


def _lazy(target: str) -> Endpoint:
    """An endpoint that imports its page module on first use; a plain function runs in the
    thread pool (the database calls block)."""
    module_name, function_name = target.split(":")
    found: list[Callable[[Request], Any]] = []

    async def endpoint(request: Request) -> Response:
        if not found:
            module = importlib.import_module(f"promptkit.view.pages.{module_name}")
            found.append(getattr(module, function_name))
        function = found[0]
        if inspect.iscoroutinefunction(function):
            response: Response = await function(request)
        else:
            response = await run_in_threadpool(function, request)
        return response

    endpoint.__name__ = function_name
    return endpoint


async def _home(request: Request) -> Response:
    return RedirectResponse("/prompts", 303)


async def _refused(request: Request, exc: Exception) -> Response:
    """A promptkit error no page handled (an unknown name, a bad environment): the page
    that says so, 404 or 400."""
    state: ViewState = request.app.state.view
    status = 404 if isinstance(exc, NotPublishedError) else 400
    return await run_in_threadpool(state.render, request, "message.html", status=status,
                                   error=str(exc))


async def _forbidden(request: Request, exc: Exception) -> Response:
    return PlainTextResponse(f"refused: {exc}", status_code=403)
