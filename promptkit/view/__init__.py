"""`promptkit view`: a local web app over the project's database to look at prompts, eval
runs, gates, pins and calls, and to review them.

    app = create_app(settings)          # or create_app(registry); a Starlette app
    serve(settings, port=8765)          # what `promptkit view` runs, with its safety checks

Starlette and uvicorn come with the `view` extra (`pip install 'promptkit[view]'`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from promptkit.lazy import lazy_attributes

if TYPE_CHECKING:
    from promptkit.view.app import create_app
    from promptkit.view.serve import check_bind, serve

__all__ = ["check_bind", "create_app", "serve"]

if not TYPE_CHECKING:
    __getattr__ = lazy_attributes(__name__)
