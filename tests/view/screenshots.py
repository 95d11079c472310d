"""Screenshots of `promptkit view`'s main pages for the docs (docs/img/view-*.png).

    PYTHONPATH=. python tests/view/screenshots.py docs/img

Builds the example project as the tests do, serves it with uvicorn, and shoots each page
in headless Chromium (Debian's, --no-sandbox).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from live import browser, served
from view_helpers import REPO, seed_calls, seed_results

from promptkit.config import load_settings
from promptkit.registry import Registry
from promptkit.templates.library import PromptLibrary
from promptkit.view import create_app

PAGES = {
    "prompts": "/prompts", "diff": "/prompts/sentiment/diff?a=1.1.0&b=1.2.0",
    "environment": "/envs/production", "runs": "/runs",
    "compare": "/runs/sentiment/sentiment", "calls": "/calls", "call": "/calls/call0000007",
    "charts": "/charts?prompt=sentiment",
}


def main(out: Path) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        shutil.copytree(REPO / "prompts", root / "prompts")
        shutil.copytree(REPO / "evals", root / "evals")
        (root / "pyproject.toml").write_text('[project]\nname = "demo"\n')
        settings = load_settings(root)
        registry = Registry(settings.database_url)
        registry.publish_library(PromptLibrary(settings.prompts_path), actor="ci")
        for version, reason in (("1.0.0", "first"), ("1.1.0", "better wording")):
            registry.pin("sentiment", version, env="production", reason=reason, actor="ana")
        registry.rollback("sentiment", env="production", reason="errors spiked", actor="bob")
        seed_results(registry)
        seed_calls(registry, count=120)
        with served(create_app(settings, actor="ana@laptop")) as url, browser() as page:
            page.set_viewport_size({"width": 1100, "height": 680})
            for name, path in PAGES.items():
                page.goto(url + path)
                page.screenshot(path=str(out / f"view-{name}.png"))
        registry.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
