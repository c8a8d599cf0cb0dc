"""The OpenAI Agents SDK (``agents``), unchanged, against the real stand-in: the voice flows
of notebook 08.

- ``VoicePipeline`` + ``SingleAgentVoiceWorkflow`` on the default model (the Responses
  API), fed by ``AudioInput`` and by ``StreamedAudioInput`` filled from another thread,
  as a Recorder's callback does: transcription, a forced ``@function_tool`` call, its
  result, then the spoken answer;
- ``RealtimeAgent`` + ``RealtimeRunner`` (its own WebSocket, given the ``url``) with the
  same tool, forced for one response through a raw ``response.create``.

The spoken question comes from the stand-in's Speech API (Piper); a take Whisper
mishears ("pairs") is made again, so the checks do not depend on Piper's randomness.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import numpy as np
import openai
import pytest

from voicekit.audio import Clip
from voicekit.metrics import wer

QUESTION = "What is the weather in Paris?"
INSTRUCTIONS = "You are a friendly voice assistant. Answer in one short sentence."


@pytest.fixture
def agents_sdk(standin_server: Any) -> Iterator[Any]:
    """The ``agents`` package with tracing off; its globals restored afterwards. Each test
    sets its own AsyncOpenAI client (:func:`sdk_client`) inside its event loop and closes it
    there, so no connection outlives the loop."""
    import agents
    from agents.models import _openai_shared
    from agents.tracing import get_trace_provider

    saved = (_openai_shared.get_default_openai_client(), _openai_shared.get_default_openai_key(),
             _openai_shared.get_use_responses_by_default())
    agents.set_tracing_disabled(True)
    try:
        yield agents
    finally:
        get_trace_provider().set_disabled(False)
        _openai_shared.set_default_openai_client(saved[0])
        _openai_shared.set_default_openai_key(saved[1])
        _openai_shared.set_use_responses_by_default(saved[2])


@pytest.fixture(scope="module")
def question(standin_server: Any) -> Clip:
    """QUESTION spoken by the stand-in's Piper: 24 kHz int16 mono, a take Whisper hears right."""
    with openai.OpenAI(base_url=standin_server.base_url, api_key="test-no-key", max_retries=0) as client:
        for _ in range(5):
            wav = client.audio.speech.create(model="gpt-4o-mini-tts", voice="alloy", input=QUESTION,
                                             response_format="wav").content
            clip = Clip.from_bytes(wav).to_mono().resample(24_000).to_int16()
            heard = client.audio.transcriptions.create(model="gpt-4o-mini-transcribe", file=clip.to_file_tuple())
            if "paris" in heard.text.lower():
                return clip
    pytest.fail(f"Whisper misheard five takes of {QUESTION!r}; the last: {heard.text!r}")


@asynccontextmanager
async def sdk_client(agents: Any, base_url: str) -> AsyncIterator[openai.AsyncOpenAI]:
    """An AsyncOpenAI client for the stand-in, the SDK's default while the block runs."""
    client = openai.AsyncOpenAI(base_url=base_url, api_key="test-no-key", max_retries=0)
    agents.set_default_openai_client(client, use_for_tracing=False)
    try:
        yield client
    finally:
        await client.close()


def weather_tool(agents: Any, calls: list[str]) -> Any:
    @agents.function_tool
    def get_weather(city: str) -> str:
        """Get the weather forecast for a city."""
        calls.append(city)
        return json.dumps({"city": city, "forecast": "sunny", "temperature_c": 21})

    return get_weather


def pipeline(agents: Any, client: openai.AsyncOpenAI, calls: list[str], heard: list[str]) -> Any:
    from agents.voice import (
        SingleAgentVoiceWorkflow,
        SingleAgentWorkflowCallbacks,
        VoicePipeline,
        VoicePipelineConfig,
    )
    from agents.voice.models.openai_model_provider import OpenAIVoiceModelProvider

    class Listen(SingleAgentWorkflowCallbacks):
        def on_run(self, workflow: Any, transcription: str) -> None:
            heard.append(transcription)

    agent = agents.Agent(name="Assistant", instructions=INSTRUCTIONS, tools=[weather_tool(agents, calls)],
                         model_settings=agents.ModelSettings(tool_choice="get_weather", temperature=0, max_tokens=64))
    assert agent.model is None  # the SDK's default model, over the Responses API
    return VoicePipeline(workflow=SingleAgentVoiceWorkflow(agent, callbacks=Listen()),
                         stt_model="gpt-4o-mini-transcribe", tts_model="gpt-4o-mini-tts",
                         config=VoicePipelineConfig(model_provider=OpenAIVoiceModelProvider(openai_client=client)))


async def collect(result: Any) -> tuple[list[str], np.ndarray]:
    """The event kinds of a StreamedAudioResult and its audio (int16, 24 kHz)."""
    kinds: list[str] = []
    audio: list[np.ndarray] = []
    async for event in result.stream():
        kinds.append(event.event if event.type == "voice_stream_event_lifecycle" else event.type)
        if event.type == "voice_stream_event_audio" and event.data is not None:
            audio.append(event.data)
        elif event.type == "voice_stream_event_error":
            raise event.error
    return kinds, np.concatenate(audio) if audio else np.zeros(0, np.int16)


def test_voice_pipeline_on_audio_input_calls_the_tool_and_speaks(agents_sdk: Any, question: Clip,
                                                                 standin_server: Any) -> None:
    from agents.voice import AudioInput

    calls: list[str] = []
    heard: list[str] = []

    async def run() -> tuple[list[str], np.ndarray, str]:
        async with sdk_client(agents_sdk, standin_server.base_url) as client:
            result = await pipeline(agents_sdk, client, calls, heard).run(
                AudioInput(buffer=question.samples, frame_rate=24_000))
            kinds, audio = await collect(result)
            return kinds, audio, result.total_output_text

    kinds, audio, text = asyncio.run(asyncio.wait_for(run(), timeout=180))
    assert len(heard) == 1 and "paris" in heard[0].lower(), heard
    assert [c.lower() for c in calls] == ["paris"]
    assert kinds[0] == "turn_started" and kinds[-2:] == ["turn_ended", "session_ended"], kinds
    assert audio.dtype == np.int16 and audio.size > 0.5 * 24_000
    assert any(word in text.lower() for word in ("sunny", "21")), text
    # the audio says the answer
    with openai.OpenAI(base_url=standin_server.base_url, api_key="test-no-key", max_retries=0) as client:
        said = client.audio.transcriptions.create(model="whisper-1", file=Clip(audio, 24_000).to_file_tuple()).text
    assert wer(text, said) <= 0.5, (text, said)


def test_streamed_audio_input_fed_from_another_thread(agents_sdk: Any, question: Clip, standin_server: Any) -> None:
    """As notebook 08's live cell: a Recorder callback (another thread) fills the queue
    with ``loop.call_soon_threadsafe``; the server's VAD ends the turn."""
    from agents.voice import StreamedAudioInput

    calls: list[str] = []
    heard: list[str] = []
    pcm = np.concatenate([question.samples, np.zeros(36_000, np.int16)])

    async def run() -> tuple[list[str], np.ndarray]:
        loop = asyncio.get_running_loop()
        streamed = StreamedAudioInput()

        def recorder() -> None:  # 100 ms chunks at the pace of speech, then the end of input
            for i in range(0, pcm.size, 2400):
                loop.call_soon_threadsafe(streamed.queue.put_nowait, pcm[i:i + 2400])
                threading.Event().wait(0.1)
            loop.call_soon_threadsafe(streamed.queue.put_nowait, None)

        async with sdk_client(agents_sdk, standin_server.base_url) as client:
            result = await pipeline(agents_sdk, client, calls, heard).run(streamed)
            feeder = threading.Thread(target=recorder, daemon=True)
            feeder.start()
            out = await collect(result)
            feeder.join(10)
            return out

    kinds, audio = asyncio.run(asyncio.wait_for(run(), timeout=180))
    assert len(heard) == 1 and "paris" in heard[0].lower(), heard
    assert [c.lower() for c in calls] == ["paris"]
    assert kinds.count("turn_started") == 1 and kinds[-1] == "session_ended", kinds
    assert audio.size > 0.5 * 24_000


def test_realtime_agent_with_a_forced_tool_for_one_response(agents_sdk: Any, question: Clip,
                                                           standin_server: Any) -> None:
    from agents.realtime import RealtimeAgent, RealtimeRunner
    from agents.realtime.model_inputs import RealtimeModelSendRawMessage

    calls: list[str] = []
    agent = RealtimeAgent(name="Assistant", instructions=INSTRUCTIONS, tools=[weather_tool(agents_sdk, calls)])
    runner = RealtimeRunner(agent, config={"model_settings": {
        "model_name": "gpt-realtime-mini", "output_modalities": ["audio"], "voice": "alloy", "turn_detection": None}})
    url = standin_server.base_url.replace("http", "ws", 1).rstrip("/") + "/realtime?model=gpt-realtime-mini"

    async def run() -> tuple[list[str], int, list[Any], list[str]]:
        kinds: list[str] = []
        raw: list[str] = []
        audio = 0
        history: list[Any] = []
        session = await runner.run(model_config={"url": url, "api_key": "test-no-key"})
        async with session:
            await session.send_audio(question.to_pcm16_bytes(), commit=True)
            await session.model.send_event(RealtimeModelSendRawMessage(message={
                "type": "response.create",
                "other_data": {"response": {"tool_choice": {"type": "function", "name": "get_weather"}}}}))
            async for event in session:
                if event.type == "raw_model_event":
                    raw.append(getattr(event.data, "type", ""))
                    continue
                kinds.append(event.type)
                if event.type == "audio":
                    audio += len(event.audio.data)
                elif event.type == "history_updated":
                    history = list(event.history)
                elif event.type == "error":
                    raise AssertionError(event.error)
                elif event.type == "agent_end" and kinds.count("agent_end") == 2:
                    break
        return kinds, audio, history, raw

    kinds, audio_bytes, history, raw = asyncio.run(asyncio.wait_for(run(), timeout=180))
    assert [c.lower() for c in calls] == ["paris"], calls
    assert kinds.index("tool_start") < kinds.index("tool_end"), kinds
    (call,) = [item for item in history if item.type == "function_call"]
    assert call.name == "get_weather" and json.loads(call.output)["forecast"] == "sunny"
    said = [item for item in history if item.type == "message" and item.role == "assistant"]
    assert said and said[-1].content[0].transcript, said
    assert audio_bytes > 2 * 24_000 // 2  # more than 0.5 s of PCM16 at 24 kHz
    assert "error" not in raw, raw
