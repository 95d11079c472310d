"""Model output is strict JSON: NaN, Infinity and duplicate keys are schema failures that
are re-asked with the parser's own message, and never returned."""

from __future__ import annotations

import pytest

from promptkit.core import Client, OutputSpec
from promptkit.errors import OutputValidationError
from promptkit.testing import FakeOpenAIServer, Reply

from .conftest import config_for

SCHEMA = {"type": "object", "required": ["confidence"],
          "properties": {"confidence": {"type": "number", "minimum": 0, "maximum": 1}}}
ASK = [{"role": "user", "content": "How sure are you?"}]


@pytest.mark.parametrize(("bad", "said"), [
    ('{"confidence": NaN}', "NaN is not JSON"),
    ('{"confidence": Infinity}', "Infinity is not JSON"),
    ('{"confidence": 0.5, "confidence": 2}', "duplicate key 'confidence'"),
])
def test_a_value_that_is_not_json_is_re_asked_with_the_parsers_message(
    bad: str, said: str,
) -> None:
    replies = [Reply(content=bad), Reply(content='{"confidence": 0.5}')]
    with FakeOpenAIServer(replies) as server, Client([config_for(server)]) as client:
        result = client.call(ASK, config="main",
                             output=OutputSpec(mode="json_object", schema=SCHEMA))
        reask = server.chat_requests[1].body["messages"][-1]["content"]
    assert result.output == {"confidence": 0.5}
    assert said in reask
    assert len(server.chat_requests) == 2


def test_nan_every_time_is_an_error_never_an_answer() -> None:
    nan = Reply(content='{"confidence": NaN}')
    with (FakeOpenAIServer(default=nan) as server,
          Client([config_for(server)], max_reasks=2) as client,
          pytest.raises(OutputValidationError) as caught):
        client.call(ASK, config="main", output=OutputSpec(mode="json_object", schema=SCHEMA))
    assert "NaN is not JSON" in str(caught.value)
    assert caught.value.last_output == '{"confidence": NaN}'


def test_unparseable_output_keeps_the_parsers_line_and_column() -> None:
    replies = [Reply(content='{"confidence": 0.5'), Reply(content='{"confidence": 0.5}')]
    with FakeOpenAIServer(replies) as server, Client([config_for(server)]) as client:
        client.call(ASK, config="main", output=OutputSpec(mode="json_object", schema=SCHEMA))
        reask = server.chat_requests[1].body["messages"][-1]["content"]
    assert "Expecting ',' delimiter: line 1 column 19" in reask
