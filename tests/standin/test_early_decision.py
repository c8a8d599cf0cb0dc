"""The tool decision pass stops once it has written ``none`` (voicekit.standin.engines.early_decision),
and decides as the whole pass does."""

from __future__ import annotations

import json

import pytest

from voicekit.standin.engines.early_decision import EarlyDecision, settled_none
from voicekit.standin.engines.llm import LLMUsage, ToolSpec, Turn, tool_choice_schema
from voicekit.standin.engines.tool_choice import _decision_prompt

WEATHER = ToolSpec("get_weather", "The current weather in a city.", {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
})
NOTES = ToolSpec("note", "Take a note.", {"type": "object", "properties": {"text": {"type": "string"}}})


@pytest.mark.parametrize(
    ("text", "names", "settled"),
    [
        ('{\n  "tool": "none"\n}', ["get_weather"], True),
        ('{\n  "tool": "n', ["get_weather"], True),  # only "none" starts with n
        ('{\n  "tool": "no', ["note"], False),  # "note" too
        ('{\n  "tool": "non', ["note"], True),
        ('{"tool": "none"', ["note"], True),
        ('{\n  "tool": "', ["get_weather"], False),
        ('{\n  "tool": "get', ["get_weather"], False),
        ('{\n  "tool": "get_weather", "arguments": {"city": "none"', ["get_weather"], False),
        ('{\n  "tool": "nonexistent"', ["nonexistent"], False),  # a tool named like it
        ("", ["get_weather"], False),
        ("{", ["get_weather"], False),
    ],
)
def test_settled_none_only_when_the_name_can_only_be_none(text, names, settled):
    assert settled_none(text, names) is settled


def test_a_required_call_is_never_stopped_early():
    decision = EarlyDecision(["none_such"], allow_none=False)
    assert decision({"choices": [{"delta": {"content": '{"tool": "n'}}]}) is False
    assert not decision.stopped


@pytest.fixture(scope="module")
def engine():
    from voicekit.standin.engines.llm import LLMEngine

    return LLMEngine()


@pytest.mark.parametrize("words", ["Tell me a joke.", "He hoped there would be stew for dinner.",
                                   "What is the weather in Paris?"])
def test_the_decision_is_the_whole_passs_and_a_reply_decision_stops_early(engine, words):
    tools = [WEATHER]
    whole_req = engine._request([Turn("system", _decision_prompt(tools)), Turn("user", words)], None, 0.0, None,
                                {"json_schema": tool_choice_schema(tools, allow_none=True)})
    whole = engine._complete({**whole_req, "id_slot": engine._decision_slot})
    expected = json.loads(whole["choices"][0]["message"]["content"])
    usage = LLMUsage()
    call = engine.decide([Turn("user", words)], tools, required=False, usage=usage)
    if expected["tool"] == "none":
        assert call is None
        # the whole pass goes on to write '"', '\n', '}' and its end of generation
        assert 0 < usage.completion_tokens < whole["usage"]["completion_tokens"], (usage, whole["usage"])
    else:
        assert call is not None and (call.name, json.loads(call.arguments)) == (expected["tool"], expected["arguments"])
        assert usage.completion_tokens == whole["usage"]["completion_tokens"]
    assert usage.prompt_tokens == whole["usage"]["prompt_tokens"]
