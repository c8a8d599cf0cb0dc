"""voicekit.agents.tools: one function, two OpenAI tool shapes, validated calls."""

from __future__ import annotations

import json
from typing import Literal

import pydantic
import pytest
from openai.types.chat import ChatCompletionFunctionToolParam
from openai.types.realtime import RealtimeFunctionTool

from voicekit.agents.tools import Tool, Toolbox, tool


def get_weather(city: str, unit: Literal["C", "F"] = "C") -> dict[str, object]:
    """The current weather in a city.

    Parameters
    ----------
    city : str
        City name, e.g. "Paris".
    unit : {"C", "F"}
        Temperature unit.
    """
    return {"city": city, "temp": 21, "unit": unit}


def set_timer(minutes: int) -> str:
    """Start a countdown timer.

    Args:
        minutes: Length of the timer in minutes.
    """
    return f"timer set for {minutes} min"


def test_schema_from_numpy_docstring_and_hints():
    t = tool(get_weather)
    assert t.name == "get_weather"
    assert t.description == "The current weather in a city."
    p = t.parameters
    assert p["type"] == "object"
    assert p["required"] == ["city"]
    assert p["additionalProperties"] is False
    assert p["properties"]["city"] == {"type": "string", "description": 'City name, e.g. "Paris".'}
    assert p["properties"]["unit"]["enum"] == ["C", "F"]
    assert p["properties"]["unit"]["default"] == "C"


def test_google_docstring_and_int():
    p = tool(set_timer).parameters
    assert p["properties"]["minutes"] == {"type": "integer", "description": "Length of the timer in minutes."}


def test_wire_shapes_parse_as_sdk_types():
    t = tool(get_weather)
    chat = t.chat_schema()
    assert chat["type"] == "function" and chat["function"]["name"] == "get_weather"
    assert pydantic.TypeAdapter(ChatCompletionFunctionToolParam).validate_python(chat)["function"]["parameters"]
    rt = RealtimeFunctionTool.model_validate(t.realtime_schema())
    assert rt.name == "get_weather" and rt.parameters == t.parameters
    from openai.types.responses import FunctionTool

    resp = FunctionTool.model_validate(t.responses_schema())  # strict is required by the SDK's type
    assert resp.name == "get_weather" and resp.strict is False and resp.parameters == t.parameters


def test_call_validates_arguments():
    t = tool(get_weather)
    assert t('{"city": "Oslo"}') == {"city": "Oslo", "temp": 21, "unit": "C"}
    assert t({"city": "Oslo", "unit": "F"})["unit"] == "F"
    with pytest.raises(ValueError, match="unit"):
        t('{"city": "Oslo", "unit": "K"}')
    with pytest.raises(ValueError, match="city"):
        t("{}")
    with pytest.raises(ValueError):
        t('{"city": "Oslo", "extra": 1}')


def test_refuses_untyped_undocumented_and_variadic():
    def no_hint(city):  # type: ignore[no-untyped-def]
        """Doc."""

    def no_doc(city: str) -> None:
        pass

    def variadic(*cities: str) -> None:
        """Doc."""

    with pytest.raises(TypeError, match="type hint"):
        tool(no_hint)
    with pytest.raises(TypeError, match="docstring"):
        tool(no_doc)
    with pytest.raises(TypeError, match=r"\*cities"):
        tool(variadic)


def test_decorator_and_overrides():
    @tool(name="weather", description="Weather now.")
    def w(city: str) -> str:
        return city

    assert isinstance(w, Tool) and w.name == "weather" and w.description == "Weather now."
    assert tool(w) is w


def test_toolbox_run_never_raises():
    box = Toolbox([get_weather, set_timer])
    assert list(box) == ["get_weather", "set_timer"] and len(box) == 2
    assert [t["function"]["name"] for t in box.chat_tools()] == ["get_weather", "set_timer"]
    assert [t["name"] for t in box.realtime_tools()] == ["get_weather", "set_timer"]
    ok = box.run("set_timer", '{"minutes": 5}', "call_1")
    assert ok.ok and ok.output == "timer set for 5 min" and ok.call_id == "call_1"
    assert json.loads(box.run("get_weather", '{"city": "Rome"}').output)["city"] == "Rome"
    bad = box.run("get_weather", '{"town": "Rome"}')
    assert not bad.ok and "error" in json.loads(bad.output)
    missing = box.run("play_music", "{}")
    assert not missing.ok and "play_music" in json.loads(missing.output)["error"]
    with pytest.raises(ValueError, match="already"):
        box.add(get_weather)
    box.remove("set_timer")
    assert list(box) == ["get_weather"]


def test_functions_for_realtime_session_validate():
    fns = Toolbox([get_weather]).functions()
    assert fns["get_weather"](city="Oslo")["unit"] == "C"
    with pytest.raises(ValueError):
        fns["get_weather"](city="Oslo", unit="K")
