"""The stand-in's Responses API (HTTP, SSE and WebSocket mode), driven only through the SDK.

Every ``Response`` and every stream event is checked against the SDK's own
models in strict mode (``openai.types.responses.Response``,
``TypeAdapter(ResponseStreamEvent)``, ``TypeAdapter(ResponsesServerEvent)``)
and for fields those models do not declare. The model is SmolLM2-135M, so
assertions check what it reliably does at temperature 0, or what a named
``tool_choice`` forces.
"""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from openai.types.responses import Response, ResponseStreamEvent
from openai.types.responses.responses_server_event import ResponsesServerEvent
from pydantic import BaseModel, TypeAdapter

MODEL = "gpt-4.1-mini"
STREAM_EVENT = TypeAdapter(ResponseStreamEvent)
WS_EVENT = TypeAdapter(ResponsesServerEvent)
WEATHER_TOOL = {
    "type": "function", "name": "get_weather", "description": "Get the current weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
TIMER_TOOL = {
    "type": "function", "name": "set_timer", "description": "Start a countdown timer.",
    "parameters": {"type": "object", "properties": {"minutes": {"type": "integer"}}, "required": ["minutes"]},
}
FORCE_WEATHER = {"type": "function", "name": "get_weather"}


def undeclared(model: Any, path: str = "") -> list[str]:
    """Paths of fields that an SDK model received but does not declare."""
    found: list[str] = []
    if isinstance(model, BaseModel):
        found += [f"{path}.{name}" for name in model.model_extra or {}]
        for name in type(model).model_fields:
            found += undeclared(getattr(model, name), f"{path}.{name}")
    elif isinstance(model, list):
        for i, item in enumerate(model):
            found += undeclared(item, f"{path}[{i}]")
    return found


def checked(response: Response) -> Response:
    """``response`` re-validated strictly from its wire form, with no undeclared fields."""
    strict = Response.model_validate(response.model_dump(mode="json", exclude_unset=True, by_alias=True), strict=True)
    assert not undeclared(strict), undeclared(strict)
    return strict


def stream_events(client: openai.OpenAI, **kwargs: Any) -> list[dict[str, Any]]:
    """A streamed response's events as sent, each validated as a ``ResponseStreamEvent``."""
    events = []
    for event in client.responses.create(model=MODEL, stream=True, **kwargs):
        raw = event.model_dump(mode="json", exclude_unset=True, by_alias=True)
        assert not undeclared(STREAM_EVENT.validate_python(raw, strict=True)), raw["type"]
        events.append(raw)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    return events


def ask(client: openai.OpenAI, **kwargs: Any) -> Response:
    return checked(client.responses.create(model=MODEL, temperature=0, **kwargs))


# -- text ------------------------------------------------------------------------


def test_a_string_input_answers_a_known_fact_with_usage(client):
    r = ask(client, input="What is the capital of France?")
    assert r.object == "response" and r.status == "completed" and r.model == MODEL
    assert "paris" in r.output_text.lower()
    assert [item.type for item in r.output] == ["message"]
    u = r.usage
    assert u.input_tokens > 5 and u.output_tokens > 0 and u.total_tokens == u.input_tokens + u.output_tokens
    assert u.output_tokens_details.reasoning_tokens == 0


def test_instructions_and_history_are_used(client):
    items = [
        {"role": "user", "content": [{"type": "input_text", "text": "What is the capital of Italy?"}]},
        {"role": "assistant", "content": [{"type": "output_text", "text": "The capital of Italy is Rome."}]},
        {"role": "user", "content": "And what is a famous building there?"},
    ]
    r = ask(client, input=items, instructions="You are a helpful assistant.")
    assert r.instructions == "You are a helpful assistant."
    text = r.output_text.lower()
    assert any(w in text for w in ("colosseum", "pantheon", "vatican", "st. peter")), text


def test_every_message_role_reaches_the_prompt(client):
    items = [
        {"role": "developer", "content": "You are a cheerful art teacher who talks to children about colours and paint."},
        {"role": "user", "content": "Hello."},
        {"role": "assistant", "content": [{"type": "output_text", "text": "Hello! How can I help?"}]},
        {"role": "system", "content": "Answer in one short sentence."},
        {"role": "user", "content": "Name a colour."},
    ]
    full = ask(client, input=items, max_output_tokens=16)
    listed = list(client.responses.input_items.list(full.id, order="asc"))
    assert [(i.type, i.role) for i in listed] == [
        ("message", "developer"), ("message", "user"), ("message", "assistant"), ("message", "system"), ("message", "user")]
    for dropped in (0, 2, 3):  # without the developer, assistant or later system turn, the prompt is shorter
        fewer = ask(client, input=items[:dropped] + items[dropped + 1:], max_output_tokens=16)
        assert fewer.usage.input_tokens < full.usage.input_tokens, dropped


def test_streamed_events_come_in_openais_order_and_join_to_the_text(client):
    events = stream_events(client, input="What is the capital of France?", temperature=0)
    kinds = [e["type"] for e in events]
    assert kinds[:4] == ["response.created", "response.in_progress", "response.output_item.added", "response.content_part.added"]
    assert kinds[-4:] == ["response.output_text.done", "response.content_part.done", "response.output_item.done", "response.completed"]
    assert set(kinds[4:-4]) == {"response.output_text.delta"}
    text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    final = events[-1]["response"]
    assert events[-4]["text"] == text == final["output"][0]["content"][0]["text"]
    assert "paris" in text.lower() and final["status"] == "completed" and final["usage"]["output_tokens"] > 0
    assert events[0]["response"]["status"] == "in_progress" and events[0]["response"]["id"] == final["id"]


def test_the_sdk_stream_helper_collects_the_final_response(client):
    with client.responses.stream(model=MODEL, input="Say hello.", temperature=0) as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == final.output_text and final.output_text


def test_max_output_tokens_ends_incomplete(client):
    prompt = "Write a long story about a dragon who learns to bake bread."
    r = ask(client, input=prompt, max_output_tokens=16)
    assert r.status == "incomplete" and r.incomplete_details.reason == "max_output_tokens"
    assert r.usage.output_tokens == 16 and r.output[0].status == "incomplete"
    events = stream_events(client, input=prompt, max_output_tokens=16, temperature=0)
    assert events[-1]["type"] == "response.incomplete"


def test_json_schema_format_constrains_the_output(client):
    schema = {"type": "object", "properties": {"city": {"type": "string"}, "country": {"type": "string"}},
              "required": ["city", "country"], "additionalProperties": False}
    r = ask(client, input="Name a big city and its country.",
            text={"format": {"type": "json_schema", "name": "place", "schema": schema, "strict": True}})
    place = json.loads(r.output_text)
    assert set(place) == {"city", "country"} and all(isinstance(v, str) for v in place.values())
    assert r.text.format.type == "json_schema"
    obj = ask(client, input="What is the capital of France? Reply in JSON with the key capital.",
              text={"format": {"type": "json_object"}}, max_output_tokens=64)
    assert obj.status == "completed" and isinstance(json.loads(obj.output_text), dict), obj.output_text


# -- tools -----------------------------------------------------------------------


def test_a_named_tool_choice_forces_the_call(client):
    r = ask(client, input="What is the weather like in Paris today?", tools=[WEATHER_TOOL, TIMER_TOOL], tool_choice=FORCE_WEATHER)
    [call] = r.output
    assert call.type == "function_call" and call.name == "get_weather" and call.status == "completed"
    assert json.loads(call.arguments)["city"].lower() == "paris"
    assert call.call_id.startswith("call_") and r.tool_choice.name == "get_weather"


def test_tool_choice_required_calls_and_none_never_calls(client):
    q = "Set a timer for five minutes."
    required = ask(client, input=q, tools=[WEATHER_TOOL, TIMER_TOOL], tool_choice="required")
    assert [i.type for i in required.output] == ["function_call"]
    none = ask(client, input=q, tools=[WEATHER_TOOL, TIMER_TOOL], tool_choice="none")
    assert [i.type for i in none.output] == ["message"]


QUERY_TOOL = {
    "type": "function", "name": "query", "description": "Query a table of the shop's database.", "strict": True,
    "parameters": {"type": "object", "additionalProperties": False, "required": ["table_name", "columns"], "properties": {
        "table_name": {"type": "string", "enum": ["orders", "customers"]},
        "columns": {"type": "array", "items": {"type": "string", "enum": ["id", "name", "total", "date"]}}}},
}


@pytest.mark.parametrize("question", ["Show me the ids and totals of all orders.", "List every customer."])
def test_a_required_tool_with_an_array_of_enum_values_always_makes_a_valid_call(client, question):
    """Issue 24, defect 2: the decision grammar let the array grow ("columns": ["id","id","id",...)
    until the pass's token cap, and the stream ended in response.failed."""
    import jsonschema

    events = stream_events(client, input=question, tools=[QUERY_TOOL], tool_choice="required")
    assert events[-1]["type"] == "response.completed", events[-1]
    [call] = events[-1]["response"]["output"]
    assert call["name"] == "query"
    jsonschema.validate(json.loads(call["arguments"]), QUERY_TOOL["parameters"])


def test_structured_output_with_no_token_limit_parses_into_the_pydantic_model(client):
    """Issue 24, defect 1: a strict text.format with no max_output_tokens came back incomplete
    (reason max_output_tokens) at a silent 512-token cap."""

    class Ingredient(BaseModel):
        name: str
        amount: str

    class Recipe(BaseModel):
        title: str
        ingredients: list[Ingredient]
        steps: list[str]

    r = client.responses.parse(model=MODEL, input="Give me a recipe for pancakes.", text_format=Recipe)
    assert r.status == "completed" and r.incomplete_details is None, r.output_text
    assert isinstance(r.output_parsed, Recipe) and r.output_parsed.ingredients


def test_a_streamed_tool_call_sends_argument_events(client):
    events = stream_events(client, input="What is the weather in Paris?", tools=[WEATHER_TOOL], tool_choice=FORCE_WEATHER, temperature=0)
    kinds = [e["type"] for e in events]
    assert kinds == ["response.created", "response.in_progress", "response.output_item.added",
                     "response.function_call_arguments.delta", "response.function_call_arguments.done",
                     "response.output_item.done", "response.completed"]
    assert events[4]["arguments"] == events[3]["delta"] == events[5]["item"]["arguments"]


def test_a_function_call_output_round_trip_answers_from_the_result(client):
    first = ask(client, input="What is the weather in Paris?", tools=[WEATHER_TOOL], tool_choice=FORCE_WEATHER)
    call = first.output[0]
    result = {"type": "function_call_output", "call_id": call.call_id,
              "output": json.dumps({"city": "Paris", "conditions": "sunny", "temperature_c": 18})}
    # Continued by id ...
    by_id = ask(client, previous_response_id=first.id, input=[result], tools=[WEATHER_TOOL])
    assert by_id.previous_response_id == first.id and by_id.output[0].type == "message"
    assert "sunny" in by_id.output_text.lower()
    # ... or with the whole conversation sent again (store=false, as the Agents SDK can).
    items = [{"role": "user", "content": "What is the weather in Paris?"},
             {"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": call.arguments}, result]
    resent = ask(client, input=items, tools=[WEATHER_TOOL], store=False)
    assert "sunny" in resent.output_text.lower()


def test_an_output_for_an_unknown_call_is_400(client):
    with pytest.raises(openai.BadRequestError) as err:
        client.responses.create(model=MODEL, input=[{"role": "user", "content": "Hi"},
                                                    {"type": "function_call_output", "call_id": "call_nope", "output": "x"}])
    assert "call_nope" in err.value.message


# -- stored responses ------------------------------------------------------------


def test_previous_response_id_continues_the_conversation(client):
    first = ask(client, input="What is the capital of France?", max_output_tokens=48)
    assert "paris" in first.output_text.lower()
    second = ask(client, previous_response_id=first.id, input="And what is a famous building there?", max_output_tokens=64)
    # The second prompt holds the first exchange: more input tokens than the whole first response.
    assert second.usage.input_tokens > first.usage.total_tokens
    text = second.output_text.lower()
    assert any(w in text for w in ("eiffel", "louvre", "notre", "paris")), text
    [own] = client.responses.input_items.list(second.id)  # a response lists its own input only
    assert own.content[0].text == "And what is a famous building there?"


def test_stored_responses_can_be_retrieved_listed_and_deleted(client):
    r = ask(client, input="Say hello.", max_output_tokens=32)
    got = checked(client.responses.retrieve(r.id))
    assert got.id == r.id and got.output_text == r.output_text and got.status == "completed"
    [item] = client.responses.input_items.list(r.id)
    assert item.type == "message" and item.content[0].text == "Say hello."
    client.responses.delete(r.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(r.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.delete(r.id)


def test_store_false_is_not_kept(client):
    r = ask(client, input="Say hello.", store=False, max_output_tokens=32)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(r.id)
    with pytest.raises(openai.BadRequestError) as err:
        client.responses.create(model=MODEL, previous_response_id=r.id, input="And again?")
    assert err.value.code == "previous_response_not_found" and err.value.param == "previous_response_id"


# -- errors ----------------------------------------------------------------------


@pytest.mark.parametrize(("kwargs", "param", "words"), [
    ({"extra_body": {"frobnicate": 1}}, "frobnicate", "Unknown parameter"),
    ({"tools": [{"type": "web_search"}]}, "tools[0].type", "offline"),
    ({"tools": [{"type": "file_search", "vector_store_ids": ["vs_1"]}]}, "tools[0].type", "offline"),
    ({"tools": [{"type": "code_interpreter", "container": {"type": "auto"}}]}, "tools[0].type", "offline"),
    ({"background": True}, "background", "offline"),
    ({"tool_choice": {"type": "function", "name": "nope"}, "tools": [WEATHER_TOOL]}, "tool_choice.name", "get_weather"),
    ({"temperature": 3}, "temperature", "0 to 2"),
    ({"max_output_tokens": 4}, "max_output_tokens", ">= 16"),
    ({"text": {"format": {"type": "yaml"}}}, "text.format.type", "json_schema"),
    ({"metadata": {"n": 1}}, "metadata", "string"),
    ({"tools": [{**WEATHER_TOOL, "parameters": [1]}]}, "tools[0].parameters", "schema"),
    ({"input": [{"type": "reasoning", "summary": []}]}, "input[0].type", "function_call_output"),
])
def test_bad_requests_are_400_naming_the_field(client, kwargs, param, words):
    with pytest.raises(openai.BadRequestError) as err:
        client.responses.create(**{"model": MODEL, "input": "Hi", **kwargs})
    assert err.value.param == param and words in err.value.message
    assert err.value.body["type"] == "invalid_request_error"


def test_input_audio_is_refused_naming_it(client):
    part = {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}
    with pytest.raises(openai.BadRequestError) as err:
        client.responses.create(model=MODEL, input=[{"role": "user", "content": [part]}])
    assert err.value.param == "input[0].content[0].type" and "input_audio" in err.value.message


def test_a_conversation_longer_than_the_context_is_400_or_a_failed_stream(client):
    with pytest.raises(openai.BadRequestError) as err:
        client.responses.create(model=MODEL, input="word " * 3000)
    assert err.value.code == "context_length_exceeded"
    events = stream_events(client, input="word " * 3000)
    assert [e["type"] for e in events] == ["response.created", "response.in_progress", "error", "response.failed"]
    assert events[2]["code"] == "context_length_exceeded" and events[2]["param"] == "input"
    failed = events[-1]["response"]
    assert failed["status"] == "failed" and failed["error"]["code"] == "invalid_prompt"  # ResponseError's nearest code


def test_an_unknown_model_is_404(client):
    with pytest.raises(openai.NotFoundError) as err:
        client.responses.create(model="gpt-nonexistent", input="Hi")
    assert err.value.code == "model_not_found"


def test_models_list_is_unchanged_by_the_responses_route(client):
    ids = {m.id for m in client.models.list()}
    assert MODEL in ids and "whisper-1" in ids


# -- WebSocket mode --------------------------------------------------------------


def _ws_events(conn: Any) -> list[dict[str, Any]]:
    """Events up to a terminal or error event, each validated as a ``ResponsesServerEvent``."""
    out = []
    while True:
        raw = json.loads(conn.recv_bytes())
        assert not undeclared(WS_EVENT.validate_python(raw, strict=True)), raw["type"]
        out.append(raw)
        if raw["type"] in ("response.completed", "response.incomplete", "response.failed", "error"):
            return out


def test_websocket_mode_answers_and_continues_without_store(client):
    done = ("response.completed", "response.incomplete")
    with client.responses.connect() as conn:
        conn.send({"type": "response.create", "model": MODEL, "input": "What is the capital of France?", "store": False,
                   "temperature": 0, "max_output_tokens": 32, "stream_id": "lane-1"})
        first = _ws_events(conn)
        assert first[0]["type"] == "response.created" and first[-1]["type"] in done
        assert {e.get("stream_id") for e in first} == {"lane-1"}
        rid = first[-1]["response"]["id"]
        conn.send({"type": "response.create", "model": MODEL, "input": "And of Italy?", "store": False,
                   "temperature": 0, "max_output_tokens": 32, "previous_response_id": rid})
        second = _ws_events(conn)
        assert second[-1]["type"] in done and "stream_id" not in second[-1]
        assert second[-1]["response"]["usage"]["input_tokens"] > first[-1]["response"]["usage"]["total_tokens"]
        conn.send({"type": "response.create", "model": MODEL, "input": "Hi", "tools": [{"type": "web_search"}]})
        [error] = _ws_events(conn)
        assert error["type"] == "error" and error["status"] == 400 and error["error"]["param"] == "tools[0].type"
        conn.send({"type": "response.create", "model": MODEL, "input": "Say hello.", "temperature": 0, "max_output_tokens": 32})
        assert _ws_events(conn)[-1]["type"] in done  # the socket survived the error
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(rid)  # store=false over the socket stays on the socket


# -- the OpenAI Agents SDK, on its default model (the Responses API) --------------------


@pytest.fixture
def agents_sdk(standin_server):
    """The ``agents`` package pointed at the stand-in, tracing off; its globals restored afterwards."""
    agents = pytest.importorskip("agents", reason="openai-agents is a dependency (pyproject.toml); install it")
    from agents.models import _openai_shared
    from agents.tracing import get_trace_provider

    saved = (_openai_shared.get_default_openai_client(), _openai_shared.get_default_openai_key(),
             _openai_shared.get_use_responses_by_default())
    # Runner.run_sync closes its event loop when done: keep no idle connections for it to leave open.
    import httpx

    http = openai.DefaultAsyncHttpxClient(limits=httpx.Limits(max_keepalive_connections=0))
    client = openai.AsyncOpenAI(base_url=standin_server.base_url, api_key="test-no-key", max_retries=0, http_client=http)
    agents.set_default_openai_client(client, use_for_tracing=False)
    agents.set_tracing_disabled(True)
    try:
        yield agents
    finally:
        agents.set_tracing_disabled(False)
        get_trace_provider().set_disabled(False)
        _openai_shared.set_default_openai_client(saved[0])
        _openai_shared.set_default_openai_key(saved[1])
        _openai_shared.set_use_responses_by_default(saved[2])


def test_an_agents_sdk_agent_calls_a_function_tool_and_answers(agents_sdk):
    calls: list[str] = []

    @agents_sdk.function_tool
    def get_weather(city: str) -> str:
        """Get the current weather for a city."""
        calls.append(city)
        return json.dumps({"city": city, "conditions": "sunny", "temperature_c": 18})

    agent = agents_sdk.Agent(
        name="Weather", instructions="You are a helpful assistant.", tools=[get_weather],
        model_settings=agents_sdk.ModelSettings(tool_choice="get_weather", temperature=0, max_tokens=64),
    )
    assert agent.model is None  # the default model, served through the Responses API
    import asyncio

    loop = asyncio.new_event_loop()  # run_sync keeps the thread's default loop open on purpose: close ours after
    asyncio.set_event_loop(loop)
    try:
        result = agents_sdk.Runner.run_sync(agent, "What is the weather like in Paris today?")
    finally:
        asyncio.set_event_loop(None)
        loop.close()
    assert [c.lower() for c in calls] == ["paris"]
    assert "sunny" in str(result.final_output).lower()
    responses = result.raw_responses
    assert len(responses) == 2 and all(r.response_id and r.response_id.startswith("resp_") for r in responses)


@pytest.mark.parametrize("transport", ["http", "websocket"])
def test_an_agents_sdk_streamed_run_works_over_both_responses_transports(agents_sdk, transport):
    import asyncio

    from agents.models import _openai_shared

    @agents_sdk.function_tool
    def get_weather(city: str) -> str:
        """Get the current weather for a city."""
        return json.dumps({"city": city, "conditions": "sunny", "temperature_c": 18})

    agent = agents_sdk.Agent(
        name="Weather", instructions="You are a helpful assistant.", tools=[get_weather],
        model_settings=agents_sdk.ModelSettings(tool_choice="get_weather", temperature=0, max_tokens=64),
    )

    async def run() -> tuple[str, set[str]]:
        result = agents_sdk.Runner.run_streamed(agent, "What is the weather like in Paris today?")
        kinds: set[str] = set()
        async for event in result.stream_events():
            kinds.add(event.data.type if event.type == "raw_response_event" else event.type)
        await _openai_shared.get_default_openai_client().close()
        return str(result.final_output), kinds

    saved = _openai_shared.get_default_openai_responses_transport()
    agents_sdk.set_default_openai_responses_transport(transport)
    try:
        final, kinds = asyncio.run(run())
    finally:
        agents_sdk.set_default_openai_responses_transport(saved)
    assert "sunny" in final.lower()
    assert {"response.created", "response.function_call_arguments.done", "response.output_text.delta", "response.completed"} <= kinds


# -- the Python entry points (for APIs that delegate to Responses), with a scripted LLM --------


class ScriptedLLM:
    """Stands in for ``LLMEngine.respond``: yields the given pieces and records what it was asked."""

    def __init__(self, *pieces: Any, finish: str = "stop") -> None:
        self.pieces, self.finish, self.calls = pieces, finish, []

    def respond(self, turns, *, tools=(), tool_choice=None, usage=None, **kwargs):
        self.calls.append({"turns": list(turns), "tool_choice": tool_choice, **kwargs})
        usage.prompt_tokens, usage.completion_tokens, usage.finish_reason = 10, len(self.pieces), self.finish
        yield from self.pieces


class ScriptedEngines:
    def __init__(self, llm: ScriptedLLM) -> None:
        self.llm = llm


def test_run_response_yields_checked_events_and_stores_the_result():
    from voicekit.standin.engines.llm import TextDelta, ToolCall
    from voicekit.standin.routes.responses import ResponseStore, run_response

    store = ResponseStore(max_items=2)
    llm = ScriptedLLM(TextDelta("Hel"), TextDelta("lo."))
    events = list(run_response(ScriptedEngines(llm), {"model": MODEL, "input": "Hi", "instructions": "Be brief."}, store))
    for e in events:
        assert not undeclared(STREAM_EVENT.validate_python(e, strict=True)), e["type"]
    final = events[-1]["response"]
    assert final["output"][0]["content"][0]["text"] == "Hello." and store.get(final["id"]) is not None
    assert [(t.role, t.content) for t in llm.calls[0]["turns"]] == [("system", "Be brief."), ("user", "Hi")]
    # A continuation reads the stored context, without the earlier instructions.
    call = ScriptedLLM(ToolCall("get_weather", '{"city": "Paris"}'), finish="tool_calls")
    body = {"model": MODEL, "input": "Weather?", "previous_response_id": final["id"], "tools": [WEATHER_TOOL], "tool_choice": "required"}
    events = list(run_response(ScriptedEngines(call), body, store))
    assert [t.role for t in call.calls[0]["turns"]] == ["user", "assistant", "user"] and call.calls[0]["tool_choice"] == "required"
    assert events[-1]["response"]["output"][0]["type"] == "function_call"
    # The store is bounded: a third response pushes out the first.
    list(run_response(ScriptedEngines(ScriptedLLM(TextDelta("x"))), {"model": MODEL, "input": "Hi"}, store))
    assert store.get(final["id"]) is None


def test_the_store_is_bounded_in_bytes_too_oldest_first_and_always_keeps_the_newest():
    from voicekit.standin.engines.llm import TextDelta
    from voicekit.standin.routes.responses import ResponseStore, run_response

    store = ResponseStore(max_bytes=400_000)  # issue 26: 1,000 responses of megabytes each were all kept
    ids = []
    for k in range(3):
        body = {"model": MODEL, "input": f"Summarise {k}: " + "word " * 30_000}  # about 150 KB of JSON each
        ids.append(list(run_response(ScriptedEngines(ScriptedLLM(TextDelta("Done."))), body, store))[-1]["response"]["id"])
    assert store.get(ids[0]) is None and store.get(ids[1]) is not None and store.get(ids[2]) is not None
    assert store.delete(ids[1]) and not store.delete(ids[1])
    tiny = ResponseStore(max_bytes=10)  # one response over the budget is still kept, so a continuation works
    first = list(run_response(ScriptedEngines(ScriptedLLM(TextDelta("A."))), {"model": MODEL, "input": "Hi"}, tiny))
    rid = first[-1]["response"]["id"]
    assert tiny.get(rid) is not None
    body = {"model": MODEL, "input": "And?", "previous_response_id": rid}
    assert list(run_response(ScriptedEngines(ScriptedLLM(TextDelta("B."))), body, tiny))[-1]["response"]["status"] == "completed"
    assert tiny.get(rid) is None


def test_stream_response_runs_in_a_worker_thread_and_ends_incomplete_at_the_cap():
    import asyncio

    from voicekit.standin.engines.llm import TextDelta
    from voicekit.standin.routes.responses import ResponseStore, stream_response

    async def collect() -> list[dict[str, Any]]:
        llm = ScriptedLLM(TextDelta("a"), TextDelta("b"), finish="length")
        body = {"model": MODEL, "input": "Hi", "max_output_tokens": 16, "store": False}
        return [e async for e in stream_response(ScriptedEngines(llm), body, ResponseStore())]

    events = asyncio.run(collect())
    assert events[-1]["type"] == "response.incomplete"
    assert events[-1]["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    from voicekit.standin.errors import OpenAIError

    with pytest.raises(OpenAIError, match="Unknown parameter"):
        asyncio.run(anext_of(stream_response(ScriptedEngines(ScriptedLLM()), {"model": MODEL, "input": "x", "bogus": 1}, ResponseStore())))


async def anext_of(iterator: Any) -> Any:
    return await iterator.__anext__()


def test_an_engine_fault_mid_stream_ends_in_response_failed_not_a_dropped_connection():
    """Any fault of the stand-in's model mid-stream is OpenAI's ``response.failed`` (server_error)."""
    import types

    from openai import OpenAI

    from voicekit.standin import StandinServer
    from voicekit.standin.engines.llm import TextDelta

    class Broken:
        name = description = "a model that fails after one piece"

        def respond(self, *args, **kwargs):
            yield TextDelta("Hel")
            raise RuntimeError("boom")

    with (StandinServer(load_engines=lambda: types.SimpleNamespace(llm=Broken())) as server,
          OpenAI(base_url=server.base_url, api_key="test-no-key", max_retries=0) as c):
        events = list(c.responses.create(model="gpt-4o-mini", input="Hi", stream=True))
    assert [e.type for e in events][-1] == "response.failed"
    assert events[-1].response.error.code == "server_error" and "RuntimeError: boom" in events[-1].response.error.message
    assert any(e.type == "response.output_text.delta" and e.delta == "Hel" for e in events)
