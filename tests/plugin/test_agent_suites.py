"""A two-tool agent suite as users run it: a real pytest session (pytester) over a project
whose prompt declares tools and whose suite names their Python functions, against a scripted
fake model on 127.0.0.1; then replayed with the server gone."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from promptkit.testing.fake_server import FakeOpenAIServer
from tests.support import refund_agent

PROMPT = """\
---
description: Refunds an order.
inputs: {request: string}
tools:
  - name: lookup_order
    description: Find an order by its id.
    parameters:
      type: object
      properties: {order_id: {type: string}}
      required: [order_id]
  - name: refund_order
    description: Refund an amount of an order.
    parameters:
      type: object
      properties: {order_id: {type: string}, amount: {type: number}}
      required: [order_id, amount]
---
system:
Look the order up before you refund it.
user:
{{ request }}
"""

TOOLS = """\
def lookup_order(order_id):
    return {"order_id": order_id, "total": 12.5}


def refund_order(order_id, amount):
    return {"refunded": amount}
"""

SUITE = """\
prompt: refund_agent
tools:
  lookup_order: shop_tools:lookup_order
  refund_order: shop_tools:refund_order
max_steps: 4
assert:
  - trajectory: {tools: [lookup_order, refund_order]}
  - steps: {max: 4}
  - contains: {value: Refunded 12.5}
cases:
  - id: a7
    vars: {request: Please refund order A7.}
    assert:
      - tool_called: {name: lookup_order, args: {order_id: A7}, step: 1}
      - tool_called: {name: refund_order, args: {order_id: A7, amount: 12.5}, step: 2}
  - id: b2
    vars: {request: "Order B2 arrived broken, refund it."}
"""


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(handler=refund_agent()) as fake:
        yield fake


@pytest.fixture
def agent_project(pytester: pytest.Pytester, server: FakeOpenAIServer) -> pytest.Pytester:
    prompt = pytester.path / "prompts" / "refund_agent" / "1.0.0.prompt"
    prompt.parent.mkdir(parents=True)
    prompt.write_text(PROMPT)
    (pytester.path / "shop_tools.py").write_text(TOOLS)
    (pytester.path / "evals").mkdir()
    (pytester.path / "evals" / "refund.yaml").write_text(SUITE)
    pytester.makepyprojecttoml(
        '[tool.promptkit.models.default]\nmodel = "fake-model"\n'
        f'base_url = "{server.base_url}"\napi_key_env = ""\n'
        '[tool.pytest.ini_options]\nasyncio_default_fixture_loop_scope = "function"\n'
    )
    return pytester


def test_a_two_tool_agent_suite_passes_then_replays_offline(
    agent_project: pytest.Pytester, server: FakeOpenAIServer
) -> None:
    recorded = agent_project.runpytest("evals", "--prompt-record=once", "-v")
    recorded.assert_outcomes(passed=2)
    assert len(server.requests) == 6  # three model turns per case
    cassettes = sorted((agent_project.path / "fixtures" / "refund").rglob("*.json"))
    assert [p.name for p in cassettes] == ["a7.json", "b2.json"]

    server.stop()
    replayed = agent_project.runpytest("evals", "-v")
    replayed.assert_outcomes(passed=2)
    replayed.stdout.fnmatch_lines(["*refund_agent@1.0.0::a7 PASSED*",
                                   "*(0 calls recorded, 6 replayed)*"])


def test_the_suite_fails_when_the_model_swaps_the_tool_order(
    agent_project: pytest.Pytester, server: FakeOpenAIServer
) -> None:
    server.handler = refund_agent(swapped=True)
    result = agent_project.runpytest("evals", "--prompt-record=once")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines([  # fnmatch reads [...] as a class: ? stands for a bracket
        "*expected the tools ?'lookup_order', 'refund_order'? in this order, "
        "got ?'refund_order', 'lookup_order'?",
        "*expected a call to 'lookup_order' at step 1, got ?'refund_order', 'lookup_order'?",
    ])


def test_a_tool_function_that_cannot_be_imported_is_a_collection_error(
    agent_project: pytest.Pytester,
) -> None:
    suite = agent_project.path / "evals" / "refund.yaml"
    suite.write_text(SUITE.replace("shop_tools:refund_order", "shop_tools:refund"))
    result = agent_project.runpytest("evals")
    assert result.ret == 2
    result.stdout.fnmatch_lines(["*evals/refund.yaml:4: tools.refund_order: "
                                 "module 'shop_tools' has no attribute 'refund'*"])
