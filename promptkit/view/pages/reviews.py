"""Human review: saving a review of a call or a case result, and the review queue (a seeded
sample of unreviewed calls per prompt version)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from promptkit.errors import UsageError
from promptkit.evals.reviews import Review, review_queue, save_review
from promptkit.view.forms import posted, redirect_with
from promptkit.view.state import view_state

__all__ = ["queue", "save"]


def queue(request: Request) -> Response:
    state = view_state(request)
    per_version = _int(request.query_params.get("per_version"), 5)
    seed = _int(request.query_params.get("seed"), 0)
    prompt = request.query_params.get("prompt") or None
    calls = review_queue(state.registry, per_version=min(per_version, 100), seed=seed,
                         prompt=prompt)
    return state.render(request, "queue.html", calls=calls, per_version=per_version, seed=seed,
                        prompt=prompt or "")


async def save(request: Request) -> Response:
    fields = await posted(request)
    state = view_state(request)
    back = fields.get("next", "/")
    if not back.startswith("/") or back.startswith("//"):
        back = "/"
    try:
        review = _review(fields, state.acting_as)
        saved = await run_in_threadpool(save_review, state.registry, review)
    except UsageError as exc:
        return PlainTextResponse(f"review not saved: {exc}", status_code=400)
    return redirect_with(request, back, f"review #{saved.id} saved: {saved.verdict}")


def _review(fields: dict[str, str], reviewer: str) -> Review:
    score = fields.get("score", "").strip()
    try:
        value = float(score) if score else None
    except ValueError:
        raise UsageError(f"a score is a number, not {score!r}") from None
    return Review(fields.get("target_kind", ""), fields.get("target_id", ""),
                  fields.get("verdict", ""), reviewer, comment=fields.get("comment", ""),
                  score=value, label=fields.get("label", "").strip()[:100] or None)


def _int(text: str | None, default: int) -> int:
    try:
        return max(0, int(text)) if text else default
    except ValueError:
        return default
