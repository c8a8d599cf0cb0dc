"""The stand-in's Chat Completions endpoint, driven only through the SDK.

The model is SmolLM2-135M, so assertions check what a small model reliably
does at temperature 0 (facts it knows, words it heard), never exact replies.
"""

from __future__ import annotations

import json

import openai
import pytest
from pydantic import BaseModel

from voicekit.audio import Clip
from voicekit.chat import (
    assistant_message,
    collect_stream,
    input_audio_part,
    reply_clip,
    tool_result_message,
)
from voicekit.metrics import normalize_text, wer

MODEL = "gpt-audio-mini"
VOICE_ASSISTANT = "You are a friendly voice assistant. Answer in one short sentence."
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "City name, e.g. Paris"}},
            "required": ["city"],
        },
    },
}
TIMER_TOOL = {
    "type": "function",
    "function": {
        "name": "set_timer",
        "description": "Start a countdown timer.",
        "parameters": {"type": "object", "properties": {"minutes": {"type": "integer"}}, "required": ["minutes"]},
    },
}


def _ask(client, messages, **kwargs):
    args = {"model": MODEL, "messages": messages, "temperature": 0, "seed": 7, **kwargs}
    return client.chat.completions.create(**args)


@pytest.fixture(scope="module")
def weather_question(standin_server) -> Clip:
    """"What is the weather like in Paris today?" spoken by the stand-in's Speech API.

    Piper samples its prosody noise, so each rendering differs a little, and now and
    then tiny.en mishears one. These tests are about what the chat model does with the
    words, so the fixture keeps the first rendering Whisper hears word for word.
    """
    question = "What is the weather like in Paris today?"
    with openai.OpenAI(base_url=standin_server.base_url, api_key="test-no-key", max_retries=0) as c:
        heard = []
        for _ in range(4):
            wav = c.audio.speech.create(model="gpt-4o-mini-tts", voice="alloy", input=question, response_format="wav").content
            clip = Clip.from_bytes(wav)
            heard.append(c.audio.transcriptions.create(model="whisper-1", file=clip.to_file_tuple()).text)
            if wer(question, heard[-1]) == 0:
                return clip
    raise AssertionError(f"Whisper never heard the question word for word in 4 renderings: {heard}")


# -- text ------------------------------------------------------------------------


def test_text_in_text_out_answers_a_known_fact(client):
    r = _ask(client, [{"role": "user", "content": "What is the capital of France?"}])
    assert r.object == "chat.completion" and r.model == MODEL
    assert "paris" in r.choices[0].message.content.lower()
    assert r.choices[0].finish_reason == "stop"
    u = r.usage
    assert u.prompt_tokens > 5 and u.completion_tokens > 0
    assert u.total_tokens == u.prompt_tokens + u.completion_tokens


def test_system_and_developer_messages_and_history_are_used(client):
    r = _ask(client, [
        {"role": "developer", "content": "You are a helpful assistant."},
        {"role": "user", "content": "What is the capital of Italy?"},
        {"role": "assistant", "content": "The capital of Italy is Rome."},
        {"role": "user", "content": "And what is a famous building there?"},
    ])
    text = r.choices[0].message.content.lower()
    assert any(w in text for w in ("colosseum", "pantheon", "vatican", "st. peter")), text


def test_max_completion_tokens_stops_with_length(client):
    r = _ask(client, [{"role": "user", "content": "Tell me a long story about a dragon."}], max_completion_tokens=5)
    assert r.choices[0].finish_reason == "length"
    assert r.usage.completion_tokens == 5


def test_stream_text_chunks_join_to_the_reply(client):
    stream = _ask(
        client, [{"role": "user", "content": "What is the capital of France?"}],
        stream=True, stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "paris" in text.lower()
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) > 2
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]


def test_same_seed_at_temperature_zero_gives_the_same_reply(client):
    msgs = [{"role": "user", "content": "Name a fruit."}]
    assert _ask(client, msgs).choices[0].message.content == _ask(client, msgs).choices[0].message.content


def test_response_format_json_schema_constrains_the_reply(client):
    schema = {"type": "object", "properties": {"capital": {"type": "string"}}, "required": ["capital"], "additionalProperties": False}
    r = _ask(client, [{"role": "user", "content": "What is the capital of France? Reply in JSON."}],
             response_format={"type": "json_schema", "json_schema": {"name": "answer", "schema": schema, "strict": True}})
    answer = json.loads(r.choices[0].message.content)
    assert set(answer) == {"capital"} and "paris" in answer["capital"].lower()


class Ingredient(BaseModel):
    name: str
    amount: str


class Recipe(BaseModel):
    title: str
    ingredients: list[Ingredient]
    steps: list[str]


def test_structured_output_with_no_token_limit_parses_into_the_pydantic_model(client):
    """Issue 24, defect 1: with no cap from the client, a strict json_schema reply ends as valid
    JSON (it ran to a silent 512-token cap inside an ever-growing array, finish_reason "length")."""
    r = client.chat.completions.parse(model=MODEL, messages=[{"role": "user", "content": "Give me a recipe for pancakes."}],
                                      response_format=Recipe, seed=0)
    choice = r.choices[0]
    assert choice.finish_reason == "stop", choice.message.content
    assert isinstance(choice.message.parsed, Recipe) and choice.message.parsed.ingredients


def test_stop_sequence_ends_the_reply_before_it(client):
    full = _ask(client, [{"role": "user", "content": "What is the capital of France?"}]).choices[0].message.content
    assert "Paris" in full
    cut = _ask(client, [{"role": "user", "content": "What is the capital of France?"}], stop=["Paris"]).choices[0].message.content
    assert cut == full[: full.index("Paris")].rstrip(), (full, cut)


# -- audio in ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "fmt", "system", "expected_words"),
    [
        ("ls_0880.wav", "wav", "Repeat what the user said.", {"young", "man"}),
        ("cards_005.wav", "mp3", "You are a helpful assistant. The user speaks to you.", {"cards", "card", "8", "spades", "clubs", "hearts"}),
    ],
)
def test_audio_in_reply_reflects_the_recording(client, shared_audio, name, fmt, system, expected_words):
    clip = Clip.from_file(shared_audio / name)
    r = _ask(client, [{"role": "system", "content": system}, {"role": "user", "content": [input_audio_part(clip, fmt)]}])
    words = set(normalize_text(r.choices[0].message.content).split())
    assert words & expected_words, r.choices[0].message.content
    assert r.usage.prompt_tokens_details.audio_tokens == pytest.approx(50 * clip.duration, abs=2)


def test_text_and_audio_parts_are_read_together(client, weather_question):
    r = _ask(client, [{"role": "user", "content": [
        {"type": "text", "text": "Which city is this question about? Answer with the city name."},
        input_audio_part(weather_question),
    ]}])
    assert "paris" in r.choices[0].message.content.lower()


# -- audio out ---------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["wav", "mp3", "flac", "opus", "aac", "pcm16"])
def test_audio_out_decodes_and_says_its_transcript(client, fmt):
    r = _ask(
        client, [{"role": "user", "content": "Tell me two facts about the moon."}],
        modalities=["text", "audio"], audio={"voice": "alloy", "format": fmt}, max_completion_tokens=40,
    )
    msg = r.choices[0].message
    assert msg.content is None and msg.audio.id.startswith("audio_") and msg.audio.expires_at > r.created
    assert "moon" in msg.audio.transcript.lower()
    clip = reply_clip(msg, fmt)
    assert clip.duration > 2
    heard = client.audio.transcriptions.create(model="gpt-4o-mini-transcribe", file=clip.to_file_tuple()).text
    assert wer(msg.audio.transcript, heard) <= 0.25, (msg.audio.transcript, heard)
    # 50 tokens per second; decoded AAC and Opus carry up to ~0.1 s of encoder priming and padding
    assert r.usage.completion_tokens_details.audio_tokens == pytest.approx(50 * clip.duration, abs=6)


@pytest.mark.parametrize("fmt", ["aac", "mp3"])
def test_an_empty_spoken_reply_is_a_short_silence_not_an_error(client, fmt):
    r = _ask(client, [{"role": "user", "content": "What is the capital of France?"}], stop=["The"],
             modalities=["text", "audio"], audio={"voice": "alloy", "format": fmt})
    assert r.choices[0].message.audio.transcript == ""
    clip = reply_clip(r.choices[0].message, fmt)
    assert 0.05 < clip.duration < 0.3 and not clip.to_float32().samples.any()


def test_streamed_pcm16_audio_arrives_in_several_chunks(client):
    stream = _ask(
        client, [{"role": "user", "content": "Tell me two facts about the moon."}],
        modalities=["text", "audio"], audio={"voice": "coral", "format": "pcm16"}, stream=True,
        stream_options={"include_usage": True}, max_completion_tokens=80,
    )
    pieces: list[Clip] = []
    reply = collect_stream(stream, on_audio=pieces.append)
    assert reply.audio_chunks >= 3 and len(pieces) == reply.audio_chunks
    assert reply.audio is not None and reply.audio.sample_rate == 24_000
    assert reply.audio.n_frames == sum(p.n_frames for p in pieces)
    assert reply.audio_id and reply.audio_id.startswith("audio_")
    assert "moon" in reply.transcript.lower() and reply.content == ""
    assert reply.usage is not None and reply.usage.completion_tokens_details.audio_tokens > 0
    # the streamed id is remembered with the whole transcript
    follow = _ask(client, [
        {"role": "user", "content": "Tell me two facts about the moon."},
        {"role": "assistant", "audio": {"id": reply.audio_id}},
        {"role": "user", "content": "Which object were you talking about?"},
    ])
    assert "moon" in follow.choices[0].message.content.lower()


def test_streaming_other_audio_formats_is_refused_clearly(client):
    with pytest.raises(openai.BadRequestError, match="pcm16") as err:
        _ask(client, [{"role": "user", "content": "Hi"}], modalities=["text", "audio"],
             audio={"voice": "alloy", "format": "wav"}, stream=True)
    assert err.value.body["param"] == "audio.format"


def test_follow_up_turn_references_earlier_audio_by_id(client):
    question = [{"role": "system", "content": VOICE_ASSISTANT}, {"role": "user", "content": "What is the capital of France?"}]
    first = _ask(client, question, modalities=["text", "audio"], audio={"voice": "alloy", "format": "wav"}, max_completion_tokens=40)
    assert "paris" in first.choices[0].message.audio.transcript.lower()
    history = [*question, assistant_message(first.choices[0].message)]
    assert history[-1] == {"role": "assistant", "audio": {"id": first.choices[0].message.audio.id}}
    second = _ask(client, [*history, {"role": "user", "content": "What is a famous building in that city?"}])
    text = second.choices[0].message.content.lower()
    assert any(w in text for w in ("eiffel", "notre dame", "louvre", "paris")), text


def test_unknown_audio_id_is_a_clear_400(client):
    with pytest.raises(openai.BadRequestError, match="audio_nope") as err:
        _ask(client, [{"role": "user", "content": "Hi"}, {"role": "assistant", "audio": {"id": "audio_nope"}},
                      {"role": "user", "content": "Again?"}])
    assert err.value.body["param"] == "messages[1].audio.id"


# -- tools -------------------------------------------------------------------------


def test_spoken_weather_question_calls_get_weather_then_speaks_the_answer(client, weather_question):
    messages = [
        {"role": "system", "content": VOICE_ASSISTANT},
        {"role": "user", "content": [input_audio_part(weather_question)]},
    ]
    first = _ask(client, messages, tools=[WEATHER_TOOL, TIMER_TOOL])
    assert first.choices[0].finish_reason == "tool_calls"
    (call,) = first.choices[0].message.tool_calls
    assert call.id.startswith("call_") and call.function.name == "get_weather"
    assert json.loads(call.function.arguments)["city"].lower() == "paris"
    messages += [
        assistant_message(first.choices[0].message),
        tool_result_message(call.id, {"city": "Paris", "temperature_c": 18, "conditions": "sunny"}),
    ]
    second = _ask(client, messages, tools=[WEATHER_TOOL, TIMER_TOOL], modalities=["text", "audio"],
                  audio={"voice": "alloy", "format": "wav"}, max_completion_tokens=60)
    assert second.choices[0].finish_reason == "stop"
    transcript = second.choices[0].message.audio.transcript.lower()
    assert "sunny" in transcript or "18" in transcript, transcript
    assert reply_clip(second.choices[0].message).duration > 0.5


def test_the_reply_after_a_tool_result_carries_its_facts(client):
    """Issue 24, defect 8: SmolLM2 talked about Paris's weather without the tool's numbers
    ("Paris, France, is currently in the "sunny" condition."); a grammar now makes it carry them."""
    call = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
    r = _ask(client, [{"role": "user", "content": "What's the weather like in Paris today?"},
                      {"role": "assistant", "content": None, "tool_calls": [call]},
                      {"role": "tool", "tool_call_id": "call_1",
                       "content": json.dumps({"city": "Paris", "temperature_c": 18, "conditions": "sunny"})}],
             tools=[WEATHER_TOOL])
    text = r.choices[0].message.content
    assert "sunny" in text.lower() and "18" in text and "paris" in text.lower(), text


def test_tool_choice_none_never_calls(client):
    r = _ask(client, [{"role": "user", "content": "What is the weather like in Paris today?"}],
             tools=[WEATHER_TOOL], tool_choice="none", max_completion_tokens=30)
    assert r.choices[0].message.tool_calls is None and r.choices[0].message.content


def test_tool_choice_required_and_named_force_a_call(client):
    r = _ask(client, [{"role": "user", "content": "Set a timer for five minutes."}], tools=[WEATHER_TOOL, TIMER_TOOL],
             tool_choice="required")
    assert r.choices[0].message.tool_calls[0].function.name == "set_timer"
    named = {"type": "function", "function": {"name": "get_weather"}}
    r = _ask(client, [{"role": "user", "content": "Hello!"}], tools=[WEATHER_TOOL, TIMER_TOOL], tool_choice=named)
    call = r.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather" and "city" in json.loads(call.function.arguments)


def test_tool_call_streams_as_tool_call_deltas(client):
    stream = _ask(client, [{"role": "user", "content": "What is the weather like in Paris today?"}],
                  tools=[WEATHER_TOOL], stream=True)
    reply = collect_stream(stream)
    assert reply.finish_reason == "tool_calls"
    assert reply.tool_calls[0]["name"] == "get_weather" and reply.tool_calls[0]["id"].startswith("call_")
    assert json.loads(reply.tool_calls[0]["arguments"])["city"].lower() == "paris"


def test_a_chat_with_no_tool_need_replies_in_text(client):
    r = _ask(client, [{"role": "user", "content": "Hello, how are you?"}], tools=[WEATHER_TOOL, TIMER_TOOL])
    assert r.choices[0].finish_reason == "stop" and r.choices[0].message.content


# -- errors ------------------------------------------------------------------------


def _error(client, exc_type, **kwargs):
    args = {"model": MODEL, "messages": [{"role": "user", "content": "Hi"}], **kwargs}
    with pytest.raises(exc_type) as err:
        client.chat.completions.create(**args)
    return err.value.body


def test_unknown_model_is_404(client):
    body = _error(client, openai.NotFoundError, model="gpt-nope")
    assert body["code"] == "model_not_found"


def test_empty_messages_is_400(client):
    body = _error(client, openai.BadRequestError, messages=[])
    assert body["param"] == "messages" and body["code"] == "empty_array"


@pytest.mark.parametrize(
    ("content", "param"),
    [
        ([{"type": "input_audio", "input_audio": {"data": "bm90IGF1ZGlv", "format": "wav"}}], "messages[0].content[0].input_audio.data"),
        ([{"type": "input_audio", "input_audio": {"data": "%%%", "format": "wav"}}], "messages[0].content[0].input_audio.data"),
        ([{"type": "input_audio", "input_audio": {"data": "AAAA", "format": "ogg"}}], "messages[0].content[0].input_audio.format"),
        ([{"type": "input_audio"}], "messages[0].content[0].input_audio.data"),
        ([{"type": "video", "video": "x"}], "messages[0].content[0].type"),
        ([{"type": "image_url", "image_url": {"url": "data:,"}}], "messages[0].content[0].type"),
        (42, "messages[0].content"),
    ],
)
def test_malformed_parts_are_400_naming_the_part(client, content, param):
    body = _error(client, openai.BadRequestError, messages=[{"role": "user", "content": content}])
    assert body["param"] == param and body["message"]


def test_broken_wav_is_400_saying_what_was_expected(client, shared_audio):
    import base64

    data = base64.b64encode((shared_audio / "bad.wav").read_bytes()).decode()
    body = _error(client, openai.BadRequestError, messages=[
        {"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": data, "format": "wav"}}]},
    ])
    assert "could not be decoded as wav" in body["message"]


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"n": 2}, "n"),
        ({"modalities": ["text", "audio"]}, "audio"),
        ({"modalities": ["text", "audio"], "audio": {"voice": "nobody", "format": "wav"}}, "audio.voice"),
        ({"modalities": ["text", "audio"], "audio": {"voice": "alloy", "format": "ogg"}}, "audio.format"),
        ({"model": "gpt-4o-mini", "modalities": ["text", "audio"], "audio": {"voice": "alloy", "format": "wav"}}, "modalities"),
        ({"temperature": 3}, "temperature"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"response_format": {"type": "xml"}}, "response_format"),
        ({"tool_choice": "required"}, "tool_choice"),
        ({"tools": [WEATHER_TOOL], "tool_choice": {"type": "function", "function": {"name": "nope"}}}, "tool_choice"),
        ({"messages": [{"role": "tool", "tool_call_id": "call_x", "content": "{}"}]}, "messages[0].tool_call_id"),
        ({"messages": [{"role": "wizard", "content": "hi"}]}, "messages[0].role"),
    ],
)
def test_invalid_requests_are_400_naming_the_parameter(client, kwargs, param):
    body = _error(client, openai.BadRequestError, **kwargs)
    assert body["param"] == param, body


def test_a_conversation_longer_than_the_context_is_400(client):
    body = _error(client, openai.BadRequestError, messages=[{"role": "user", "content": "word " * 3000}])
    assert body["code"] == "context_length_exceeded" and "2048" in body["message"]


def test_a_huge_conversation_is_refused_before_it_is_tokenized(client):
    """Far past any context (200,000 characters for 2,048 tokens): refused on a character bound,
    without llama.cpp tokenizing it (a 42 MB body took 20.7 s of CPU that way)."""
    body = _error(client, openai.BadRequestError, messages=[{"role": "user", "content": "a" * 200_000}])
    assert body["code"] == "context_length_exceeded"
    assert "200,000 characters" in body["message"] and "2,048 tokens" in body["message"]
    assert client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Hi"}],
                                          max_completion_tokens=3).choices[0].message.content


def test_a_streamed_conversation_longer_than_the_context_raises_in_the_stream(client):
    stream = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "word " * 3000}], stream=True)
    with pytest.raises(openai.APIError, match="context"):
        list(stream)


def test_audio_input_on_a_text_model_is_refused(client, sine_clip):
    body = _error(client, openai.BadRequestError, model="gpt-4o-mini",
                  messages=[{"role": "user", "content": [input_audio_part(sine_clip)]}])
    assert "gpt-audio-mini" in body["message"]


def test_models_list_includes_the_chat_audio_models(client):
    ids = {m.id for m in client.models.list()}
    assert {"gpt-audio-mini", "gpt-4o-mini", "gpt-4o-audio-preview"} <= ids


# -- regressions (issue 15) ----------------------------------------------------------


@pytest.mark.parametrize("role", ["system", "developer"])
@pytest.mark.parametrize("tool_choice", ["auto", "required"])
def test_a_system_message_after_an_assistant_turn_with_tools_is_answered(client, role, tool_choice):
    # Once a 500: "llama.cpp failed: Failed to initialize samplers" (the decision pass ended on the assistant turn).
    r = _ask(client, [
        {"role": "user", "content": "Hello."},
        {"role": "assistant", "content": "Hello! How can I help?"},
        {"role": role, "content": "The user is in Paris."},
        {"role": "user", "content": "What is the weather like here?"},
    ], tools=[WEATHER_TOOL], tool_choice=tool_choice, max_completion_tokens=48)
    assert r.choices[0].finish_reason in ("stop", "length", "tool_calls")
    ended = _ask(client, [
        {"role": "user", "content": "Hello."},
        {"role": "assistant", "content": "Hello! How can I help?"},
        {"role": role, "content": "Be brief."},
    ], tools=[WEATHER_TOOL], tool_choice=tool_choice, max_completion_tokens=48)
    assert ended.choices[0].finish_reason in ("stop", "length", "tool_calls")


def test_input_audio_whose_bytes_are_not_the_declared_format_is_400(client, sine_clip):
    import base64

    mp3 = base64.b64encode(sine_clip.encode("mp3")).decode()
    body = _error(client, openai.BadRequestError, messages=[
        {"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": mp3, "format": "wav"}}]},
    ])
    assert body["param"] == "messages[0].content[0].input_audio.format"
    assert "'wav'" in body["message"] and "mp3" in body["message"] and body["type"] == "invalid_request_error"


def test_an_unknown_parameter_is_400_naming_it(client):
    body = _error(client, openai.BadRequestError, extra_body={"frobnicate": True})
    assert body["message"] == "Unrecognized request argument supplied: frobnicate" and body["param"] == "frobnicate"


def test_top_p_and_penalties_are_accepted_and_checked(client):
    r = _ask(client, [{"role": "user", "content": "Name a fruit."}], top_p=0.5, frequency_penalty=0.5,
             presence_penalty=0.2, max_completion_tokens=16)
    assert r.choices[0].message.content
    assert _error(client, openai.BadRequestError, top_p=2)["param"] == "top_p"
    assert _error(client, openai.BadRequestError, frequency_penalty=3)["param"] == "frequency_penalty"


def test_a_long_greedy_reply_does_not_loop(client):
    # Issue 13: without repetition control this reply repeated one sentence 24 times up to the 512-token cap.
    r = _ask(client, [{"role": "system", "content": "Repeat what the user said."},
                      {"role": "user", "content": "He was not an ill disposed young man"}])
    text = r.choices[0].message.content
    sentences = [s.strip() for s in text.replace(". ", ".\n").splitlines() if s.strip()]
    worst = max(sentences.count(s) for s in sentences)
    assert worst <= 3, f"a sentence came {worst} times: {text[:300]!r}"
    assert r.choices[0].finish_reason == "stop", text[-200:]


def test_a_pydantic_tool_with_an_enum_in_defs_is_called(client):
    """openai.pydantic_function_tool writes the Enum as a $defs reference (was a 500)."""
    import enum

    import openai
    from pydantic import BaseModel

    class Table(str, enum.Enum):
        orders = "orders"
        customers = "customers"

    class Query(BaseModel):
        table_name: Table

    tool = openai.pydantic_function_tool(Query, name="query")
    assert "$defs" in str(tool)  # the shape under test
    reply = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Look up the orders table."}],
        tools=[tool], tool_choice={"type": "function", "function": {"name": "query"}}, temperature=0)
    call = reply.choices[0].message.tool_calls[0]
    assert call.function.name == "query"
    assert json.loads(call.function.arguments)["table_name"] in ("orders", "customers")
