"""The tool loop over real HTTP on 127.0.0.1: tools offered in each provider's shape, calls
run, arguments validated and errors fed back, the step limit, the deadline, a tool's
exception, and a run recorded then replayed with no network."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from promptkit.core import Client, ModelConfig, OutputSpec, ToolSpec
from promptkit.errors import (
    OutputValidationError,
    StepLimitError,
    ToolDeadlineError,
    ToolFailedError,
    UsageError,
)
from promptkit.replay import ReplaySession
from promptkit.testing import FakeOpenAIServer, Reply, ToolCallReply
from tests.support import refund_agent, server_config, tool_results

pytest.importorskip("anthropic", reason="the [anthropic] extra is not installed")

LOOKUP = ToolSpec(name="lookup_order", description="Find an order by its id.",
                  parameters={"type": "object", "properties": {"order_id": {"type": "string"}},
                              "required": ["order_id"]})
REFUND = ToolSpec(name="refund_order", parameters={
    "type": "object", "required": ["order_id", "amount"],
    "properties": {"order_id": {"type": "string"}, "amount": {"type": "number"}}})
ASK = [{"role": "system", "content": "You handle refunds."},
       {"role": "user", "content": "Please refund order A7."}]


class Shop:
    """The tools' Python side, noting every call it gets."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def lookup_order(self, order_id: str) -> dict[str, Any]:
        self.calls.append(("lookup_order", {"order_id": order_id}))
        return {"order_id": order_id, "total": 12.5}

    async def refund_order(self, order_id: str, amount: float) -> dict[str, Any]:
        self.calls.append(("refund_order", {"order_id": order_id, "amount": amount}))
        return {"refunded": amount}

    def functions(self) -> dict[str, Any]:
        return {"lookup_order": self.lookup_order, "refund_order": self.refund_order}


def provider_config(server: FakeOpenAIServer, provider: str, **fields: Any) -> ModelConfig:
    if provider == "anthropic":
        fields.setdefault("base_url", server.anthropic_base_url)
    return server_config(server, "main", provider=provider, price_in=1.0, price_out=2.0,
                         **fields)


def offered(body: dict[str, Any]) -> tuple[list[str], Any]:
    """The tool names a request offers and its tool_choice, in any API's shape."""
    names = [t.get("name") or t["function"]["name"] for t in body.get("tools", [])]
    return names, body.get("tool_choice")


@pytest.mark.parametrize("provider", ["openai", "openai-responses", "anthropic"])
def test_a_two_tool_agent_runs_to_its_answer_on_every_provider(provider: str) -> None:
    shop = Shop()
    with FakeOpenAIServer(handler=refund_agent()) as server, \
            Client([provider_config(server, provider)]) as client:
        run = client.run_tools(ASK, shop.functions(), tools=[LOOKUP, REFUND], config="main")
        bodies = [r.body for r in server.requests]
    assert run.tools == ("lookup_order", "refund_order")
    assert shop.calls == [("lookup_order", {"order_id": "A7"}),
                          ("refund_order", {"order_id": "A7", "amount": 12.5})]
    assert [s.result for s in run.steps] == [{"order_id": "A7", "total": 12.5}, {"refunded": 12.5}]
    assert [s.turn for s in run.steps] == [0, 1] and all(s.ok for s in run.steps)
    assert run.output == "Refunded 12.5 for order A7."
    assert len(run.turns) == 3 == len(bodies)
    assert [tool_results(b) for b in bodies] == [
        [], ['{"order_id": "A7", "total": 12.5}'],
        ['{"order_id": "A7", "total": 12.5}', '{"refunded": 12.5}']]
    auto = {"openai": "auto", "openai-responses": "auto", "anthropic": {"type": "auto"}}
    assert offered(bodies[0]) == (["lookup_order", "refund_order"], auto[provider])
    assert run.usage.total_tokens == sum(t.total_usage.total_tokens for t in run.turns) > 0
    assert run.cost_usd == pytest.approx(sum(t.cost_usd for t in run.turns)) and run.cost_usd > 0
    assert len({t.metadata["tool_run"] for t in run.turns}) == 1
    assert [t.metadata["turn"] for t in run.turns] == [0, 1, 2]


def test_each_provider_sends_the_tools_in_its_own_shape(server: FakeOpenAIServer) -> None:
    server.default = Reply(content="done")
    for provider in ("openai", "openai-responses", "anthropic"):
        with Client([provider_config(server, provider)]) as client:
            client.call(ASK, config="main", tools=[LOOKUP])
    chat, responses, anthropic = (r.body["tools"][0] for r in server.requests)
    assert chat == {"type": "function", "function": {
        "name": "lookup_order", "parameters": LOOKUP.parameters,
        "description": "Find an order by its id."}}
    assert responses == {"type": "function", "name": "lookup_order", "strict": False,
                         "parameters": LOOKUP.parameters,
                         "description": "Find an order by its id."}
    assert anthropic == {"name": "lookup_order", "input_schema": LOOKUP.parameters,
                         "description": "Find an order by its id."}


def test_a_call_offering_tools_returns_the_calls_without_running_them(
    server: FakeOpenAIServer,
) -> None:
    server.enqueue(Reply(tool_calls=[ToolCallReply("lookup_order", {"order_id": "A7"})]))
    schema = {"type": "object", "required": ["refunded"]}
    with Client([provider_config(server, "openai")]) as client:
        result = client.call(ASK, config="main", tools=[LOOKUP],
                             output=OutputSpec(mode="json_schema", schema=schema))
    assert result.output is None and [c.name for c in result.tool_calls] == ["lookup_order"]
    assert len(server.requests) == 1  # a tool turn is not an invalid answer: no re-ask


def test_arguments_that_break_the_schema_go_back_to_the_model_as_a_step(
    server: FakeOpenAIServer,
) -> None:
    server.enqueue(Reply(tool_calls=[ToolCallReply("lookup_order", {"order_id": 7})]),
                   Reply(tool_calls=[ToolCallReply("cancel_order", {})]),
                   Reply(tool_calls=[ToolCallReply("lookup_order", "{not json")]),
                   Reply(tool_calls=[ToolCallReply("lookup_order", {"order_id": "A7"})]),
                   Reply(content="Order A7 costs 12.5."))
    shop = Shop()
    with Client([provider_config(server, "openai")]) as client:
        run = client.run_tools(ASK, shop.functions(), tools=[LOOKUP, REFUND], config="main")
    assert run.tools == ("lookup_order", "cancel_order", "lookup_order", "lookup_order")
    assert run.output == "Order A7 costs 12.5." and run.steps[3].ok
    first, unknown, broken = run.steps[:3]
    assert first.error == ("the arguments do not match the tool's JSON Schema: "
                           "$.order_id: 7 is not of type 'string'")
    assert json.loads(first.content) == {"error": first.error}
    assert unknown.error == ("there is no tool named 'cancel_order'; the tools are: "
                             "lookup_order, refund_order")
    assert broken.arguments == "{not json" and broken.error is not None
    assert broken.error.startswith("the arguments are not valid JSON")
    assert json.loads(tool_results(server.requests[1].body)[0])["error"] == first.error
    assert len(shop.calls) == 1  # the refused calls never reached the functions


def test_a_tool_exception_is_a_result_the_model_sees_unless_told_to_raise(
    server: FakeOpenAIServer,
) -> None:
    def lookup_order(order_id: str) -> dict[str, Any]:
        raise LookupError(f"no order {order_id}")

    functions = {"lookup_order": lookup_order, "refund_order": Shop().refund_order}
    server.handler = refund_agent()
    with Client([provider_config(server, "openai")]) as client:
        run = client.run_tools(ASK, functions, tools=[LOOKUP, REFUND], config="main")
        assert run.steps[0].error == "the tool raised LookupError: no order A7"
        assert tool_results(server.requests[1].body) == [
            '{"error": "the tool raised LookupError: no order A7"}']
        with pytest.raises(ToolFailedError) as caught:
            client.run_tools(ASK, functions, tools=[LOOKUP, REFUND], config="main",
                             tool_errors="raise")
    assert isinstance(caught.value.__cause__, LookupError) and caught.value.step == 1
    assert caught.value.trajectory.steps == () and len(caught.value.trajectory.turns) == 1


def test_the_step_limit_ends_a_looping_model_with_its_trajectory(
    server: FakeOpenAIServer,
) -> None:
    server.default = Reply(tool_calls=[ToolCallReply("lookup_order", {"order_id": "A7"})])
    with Client([provider_config(server, "openai")]) as client, \
            pytest.raises(StepLimitError) as caught:
        client.run_tools(ASK, Shop().functions(), tools=[LOOKUP, REFUND], config="main",
                         max_steps=3)
    assert str(caught.value) == "the model asked for step 4 (lookup_order) past max_steps=3"
    assert caught.value.trajectory.tools == ("lookup_order",) * 3
    assert len(caught.value.trajectory.turns) == 4 and caught.value.trajectory.final is None


def test_the_deadline_cuts_a_slow_tool_and_a_slow_model_turn(server: FakeOpenAIServer) -> None:
    def slow_lookup(order_id: str) -> dict[str, Any]:
        time.sleep(1.5)
        return {}

    functions = {"lookup_order": slow_lookup, "refund_order": Shop().refund_order}
    server.handler = refund_agent()
    with Client([provider_config(server, "openai")]) as client:
        started = time.monotonic()
        with pytest.raises(ToolDeadlineError, match="passed while lookup_order ran") as caught:
            client.run_tools(ASK, functions, tools=[LOOKUP, REFUND], config="main",
                             deadline_s=0.5)
        assert time.monotonic() - started < 1.2
        assert caught.value.trajectory.steps[0].error == "cut by the tool run's deadline"
        server.handler = None
        server.default = Reply(content="late", latency=2.0)
        started = time.monotonic()
        with pytest.raises(ToolDeadlineError, match="during a model turn"):
            client.run_tools(ASK, Shop().functions(), tools=[LOOKUP, REFUND], config="main",
                             deadline_s=0.5)
        assert time.monotonic() - started < 1.2


def test_the_final_answer_is_validated_and_re_asked_like_any_output(
    server: FakeOpenAIServer,
) -> None:
    schema = {"type": "object", "required": ["refunded"],
              "properties": {"refunded": {"type": "number"}}}
    server.enqueue(Reply(tool_calls=[ToolCallReply("lookup_order", {"order_id": "A7"})]),
                   Reply(content={"refunded": "all"}), Reply(content={"refunded": 12.5}))
    with Client([provider_config(server, "openai")], max_reasks=1) as client:
        run = client.run_tools(ASK, {"lookup_order": Shop().lookup_order}, tools=[LOOKUP],
                               config="main", output=OutputSpec(mode="json_schema",
                                                                schema=schema))
        assert run.output == {"refunded": 12.5}
        assert [a.kind for a in run.final.attempts] == ["first", "reask"]  # type: ignore[union-attr]
        server.enqueue(Reply(tool_calls=[ToolCallReply("lookup_order", {"order_id": "A7"})]),
                       Reply(content={"refunded": "all"}), Reply(content={"refunded": "x"}))
        with pytest.raises(OutputValidationError) as caught:
            client.run_tools(ASK, {"lookup_order": Shop().lookup_order}, tools=[LOOKUP],
                             config="main", output=OutputSpec(mode="json_schema",
                                                              schema=schema))
    assert caught.value.trajectory.tools == ("lookup_order",)


def test_a_recorded_run_replays_with_no_network(tmp_path: Path) -> None:
    recorder = ReplaySession(tmp_path / "fixtures", "once")
    with FakeOpenAIServer(handler=refund_agent()) as server:
        with Client([provider_config(server, "anthropic")],
                    transport=recorder.transport()) as client, recorder.cassette("run.json"):
            live = client.run_tools(ASK, Shop().functions(), tools=[LOOKUP, REFUND],
                                    config="main")
        recorder.finish()
    entries = json.loads((tmp_path / "fixtures" / "run.json").read_text())["entries"]
    assert len(entries) == 3  # each turn under its own key
    dead = provider_config(server, "anthropic", base_url="http://127.0.0.1:9")
    replayer = ReplaySession(tmp_path / "fixtures")
    with Client([dead], transport=replayer.transport()) as client, replayer.cassette("run.json"):
        offline = client.run_tools(ASK, Shop().functions(), tools=[LOOKUP, REFUND],
                                   config="main")
    assert offline.tools == live.tools and offline.output == live.output
    assert [s.result for s in offline.steps] == [s.result for s in live.steps]
    assert replayer.stats.replayed == 3 and replayer.stats.recorded == 0


def test_tools_and_functions_must_match_before_anything_is_sent(
    server: FakeOpenAIServer,
) -> None:
    with Client([provider_config(server, "openai")]) as client:
        with pytest.raises(UsageError, match=r"no function for the tool\(s\) refund_order"):
            client.run_tools(ASK, {"lookup_order": print}, tools=[LOOKUP, REFUND], config="main")
        with pytest.raises(UsageError, match="needs tools to offer"):
            client.run_tools(ASK, {}, config="main")
        with pytest.raises(UsageError, match="share the name 'lookup_order'"):
            client.call(ASK, config="main", tools=[LOOKUP, LOOKUP])
        with pytest.raises(UsageError, match="parameters of the tool 'bad' is not valid"):
            client.call(ASK, config="main",
                        tools=[{"name": "bad", "parameters": {"type": "nope"}}])
    assert server.requests == []
