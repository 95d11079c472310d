"""Environments: what each serves, its ledger as a timeline, its rules and pending moves;
rollback, promote/pin and approve through the library calls the CLI makes, so every rule of
a protected environment applies here too."""

from __future__ import annotations

from collections.abc import Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from promptkit.errors import (
    ApprovalPendingError,
    PromotionRefusedError,
    PromptkitError,
    ProtectedEnvironmentError,
)
from promptkit.evals.promotion import promote
from promptkit.registry.environments import check_known_env
from promptkit.registry.records import LedgerEntry, check_env
from promptkit.view.forms import posted, reason_of, redirect_with
from promptkit.view.queries.environments import env_names, env_view
from promptkit.view.state import ViewState, view_state

__all__ = ["decide", "environment", "index", "move", "rollback"]

Action = Callable[[ViewState], str]


def index(request: Request) -> Response:
    state = view_state(request)
    pins = state.registry.pins()
    return state.render(request, "envs.html", envs=env_names(state), pins=pins,
                        rules={env: state.registry.rules(env) for env in env_names(state)})


def environment(request: Request) -> Response:
    return _page(request, request.path_params["env"])


async def rollback(request: Request) -> Response:
    fields, env = await posted(request), request.path_params["env"]

    def act(state: ViewState) -> str:
        entry = state.registry.rollback(fields.get("name", ""), env=env,
                                        reason=reason_of(fields), to=fields.get("to") or None,
                                        actor=state.actor)
        return _moved(entry)
    return await _acted(request, env, act)


async def move(request: Request) -> Response:
    """Promote (needs a passing gate), pin, or force (skips the gate, says so)."""
    fields, env = await posted(request), request.path_params["env"]
    name, version, mode = fields.get("name", ""), fields.get("version", ""), fields.get("mode")

    def act(state: ViewState) -> str:
        reason = reason_of(fields)
        if mode == "pin":
            check_known_env(state.settings, state.registry, env)
            return _moved(state.registry.pin(name, version, env=env, reason=reason,
                                             actor=state.actor))
        done = promote(state.registry, name, version, env=env, reason=reason,
                       force=mode == "force", actor=state.actor)
        return _moved(done.entry) if done.entry else f"{env} already serves {version}"
    return await _acted(request, env, act)


async def decide(request: Request) -> Response:
    """Approve or reject a pending move request."""
    fields = await posted(request)
    request_id = request.path_params["request_id"]
    env = check_env(fields.get("env", ""))

    def act(state: ViewState) -> str:
        reject = fields.get("decision") == "reject"
        found, entry = state.registry.approve(request_id, actor=state.actor,
                                              reason=fields.get("reason", ""), reject=reject)
        return _moved(entry) if entry else f"request #{found.id} is {found.state}"
    return await _acted(request, env, act)


async def _acted(request: Request, env: str, act: Action) -> Response:
    """Run `act`; its message on the environment's page after a redirect, or the page again
    with the refusal (409 a rule, 400 anything else) and nothing changed."""
    state = view_state(request)
    try:
        message = await run_in_threadpool(act, state)
    except ApprovalPendingError as exc:
        return redirect_with(request, f"/envs/{env}", f"waiting for approval: {exc}")
    except (ProtectedEnvironmentError, PromotionRefusedError) as exc:
        rule = f" (rule: {exc.rule})" if isinstance(exc, ProtectedEnvironmentError) else ""
        return await run_in_threadpool(_page, request, env, f"refused{rule}: {exc}", 409)
    except PromptkitError as exc:
        return await run_in_threadpool(_page, request, env, f"refused: {exc}", 400)
    return redirect_with(request, f"/envs/{env}", message)


def _page(request: Request, env: str, error: str | None = None, status: int = 200) -> Response:
    state = view_state(request)
    return state.render(request, "env.html", view=env_view(state, check_env(env)),
                        error=error, status=status)


def _moved(entry: LedgerEntry) -> str:
    return (f"{entry.name} in {entry.env}: {entry.from_version or '(none)'} → "
            f"{entry.to_version} ({entry.action} #{entry.id} by {entry.actor}: {entry.reason})")
