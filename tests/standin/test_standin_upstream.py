"""An upstream LLM behind the stand-in (:mod:`voicekit.standin.engines.upstream`), with no external server.

The upstream is the session's stand-in (``standin_server``: SmolLM2 on llama.cpp,
reached over HTTP like Ollama or ``llama-server``); the *front* is a second
stand-in in this process, sharing the session's Whisper and Piper, whose LLM is
an :class:`UpstreamLLM` pointing at it. A small TCP relay between the two can
cut the connection (the upstream dying mid-stream, or down) and let it through
again (recovery). A listener that accepts and never answers stands for a hung
upstream (the 504).
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from openai import OpenAI
from openai.types.realtime import RealtimeErrorEvent
from with_upstream import engines_of, front_engines

from voicekit.errors import StandinError
from voicekit.standin import StandinServer
from voicekit.standin.engines import Engines
from voicekit.standin.engines.llm import ToolSpec, Turn
from voicekit.standin.engines.llm_config import LLMConfig, export_flags
from voicekit.standin.engines.upstream import UpstreamLLM, to_messages
from voicekit.standin.live.delegation import wants_delegation
from voicekit.standin.models import LLM_FIELD

KEY = "test-upstream-secret-4f1c9e"  # not an OpenAI-shaped key: the scrub must not rely on a prefix
"""The upstream key every front is given: it must never reach a client or a log line."""

UPSTREAM_MODEL = "gpt-4o-mini"
"""The model id the front asks its upstream for (a stand-in answers to OpenAI's names only)."""

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Get the current weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}


def _engines(server: StandinServer) -> Engines:
    return engines_of(server)  # the session stand-in's loaded engines


@contextlib.contextmanager
def front(upstream: StandinServer, base_url: str, *, tools: str = "auto", timeout_s: float = 60.0) -> Iterator[OpenAI]:
    """A stand-in whose LLM is ``base_url``; yields an SDK client of it."""
    e = _engines(upstream)
    config = LLMConfig(base_url=base_url, model=UPSTREAM_MODEL, api_key=KEY, tools=tools, timeout_s=timeout_s)
    with StandinServer(load_engines=lambda: front_engines(e, UpstreamLLM(config))) as server, \
            OpenAI(base_url=server.base_url, api_key="test-no-key", max_retries=0, timeout=120) as client:
        client.front = server  # type: ignore[attr-defined]
        yield client


def _llm(client: OpenAI) -> UpstreamLLM:
    llm = _engines(client.front).llm  # type: ignore[attr-defined]
    assert isinstance(llm, UpstreamLLM)
    return llm


class Relay:
    """A TCP relay on a fixed loopback port to ``target``; :meth:`cut` drops every connection
    and stops listening (the upstream is gone), :meth:`restore` listens again."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._listener: socket.socket | None = None
        self.restore()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def restore(self) -> None:
        lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lst.bind(("127.0.0.1", self.port))
        lst.listen()
        self.port = lst.getsockname()[1]
        self._listener = lst
        threading.Thread(target=self._accept, args=(lst,), daemon=True).start()

    def _accept(self, lst: socket.socket) -> None:
        while True:
            try:
                down, _ = lst.accept()
            except OSError:
                return
            up = socket.create_connection(self.target)
            self._pairs.append((down, up))
            for a, b in ((down, up), (up, down)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    def cut(self) -> None:
        assert self._listener is not None
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the thread in accept() (Linux), or close() would not
        self._listener.close()
        for down, up in self._pairs:
            for s in (down, up):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
        self._pairs.clear()


@pytest.fixture(scope="module")
def native(standin_server: StandinServer) -> Iterator[OpenAI]:
    with front(standin_server, standin_server.base_url, tools="native") as client:
        yield client


@pytest.fixture(scope="module")
def as_json(standin_server: StandinServer) -> Iterator[OpenAI]:
    with front(standin_server, standin_server.base_url, tools="json") as client:
        yield client


# -- configuration -----------------------------------------------------------------------


def test_config_flags_win_over_the_environment_and_are_checked() -> None:
    env = {"VOICEKIT_LLM_BASE_URL": "http://127.0.0.1:11434/v1/", "VOICEKIT_LLM_MODEL": "llama3.2",
           "VOICEKIT_LLM_API_KEY": KEY}
    config = LLMConfig.resolve(env=env)
    assert (config.base_url, config.model, config.api_key) == ("http://127.0.0.1:11434/v1", "llama3.2", KEY)
    assert KEY not in config.describe() and "llama3.2 at http://127.0.0.1:11434/v1" in config.describe()
    assert LLMConfig.resolve(model="qwen3", env=env).model == "qwen3"
    assert not LLMConfig.resolve(env={}).upstream
    with pytest.raises(StandinError, match="needs a model id"):
        LLMConfig.resolve(base_url="http://127.0.0.1:8080/v1", env={})
    with pytest.raises(StandinError, match="expected an http"):
        LLMConfig.resolve(base_url="127.0.0.1:8080", model="m", env={})
    with pytest.raises(StandinError, match="expected one of them"):
        LLMConfig.resolve(env={**env, "VOICEKIT_LLM_GGUF": "/x.gguf"})


def test_serve_flags_go_to_the_environment_the_engines_read() -> None:
    import argparse

    env = {"VOICEKIT_LLM_API_KEY": KEY}
    args = argparse.Namespace(llm_base_url="http://127.0.0.1:8080/v1", llm_model="qwen2.5", llm_tools="json",
                              llm_timeout=5.0)
    described = export_flags(args, env)
    assert described == "qwen2.5 at http://127.0.0.1:8080/v1 (upstream)" and KEY not in described
    config = LLMConfig.resolve(env=env)
    assert (config.base_url, config.model, config.tools, config.timeout_s, config.api_key) == (
        "http://127.0.0.1:8080/v1", "qwen2.5", "json", 5.0, KEY)


def test_turns_become_real_roles_with_tool_call_ids() -> None:
    messages = to_messages([Turn("system", "Be brief."), Turn("user", "Weather in Oslo?"), Turn("assistant", ""),
                            Turn("tool", "12 C", tool_name="get_weather")])
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "tool"]
    call = messages[2]["tool_calls"][0]
    assert call["function"]["name"] == "get_weather" and messages[3]["tool_call_id"] == call["id"]


# -- through a live upstream ---------------------------------------------------------------


def test_streamed_reply_comes_through_piece_by_piece(native: OpenAI, standin_server: StandinServer) -> None:
    stream = native.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Name three colours."}], stream=True,
        max_completion_tokens=30, temperature=0, stream_options={"include_usage": True})
    pieces, usage = [], None
    for chunk in stream:
        pieces += [c.delta.content for c in chunk.choices if c.delta.content]
        usage = chunk.usage or usage
    assert len(pieces) > 1 and "".join(pieces).strip()  # relayed as it came, not in one piece
    assert usage is not None and usage.completion_tokens > 0  # the upstream's real counts
    entry = native.models.retrieve("gpt-4o-mini")
    assert standin_server.base_url in entry.model_extra[LLM_FIELD] and "upstream" in entry.model_extra[LLM_FIELD]


@pytest.mark.parametrize("mode", ["native", "json_schema"])
def test_tool_call_then_tool_result(mode: str, native: OpenAI, as_json: OpenAI) -> None:
    client = native if mode == "native" else as_json
    messages: list[Any] = [{"role": "user", "content": "What is the weather in Paris?"}]
    r = client.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=[WEATHER],  # type: ignore[list-item]
                                       tool_choice={"type": "function", "function": {"name": "get_weather"}})
    call = r.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert call.function.name == "get_weather" and isinstance(json.loads(call.function.arguments), dict)  # type: ignore[union-attr]
    assert r.choices[0].finish_reason == "tool_calls"
    assert _llm(client).tool_mode == mode and f"tools: {mode}" in client.models.retrieve("gpt-4o-mini").model_extra[LLM_FIELD]
    messages += [r.choices[0].message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": call.id, "content": "Sunny, 21 C"}]
    reply = client.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=[WEATHER],  # type: ignore[list-item]
                                           max_completion_tokens=30)
    assert reply.choices[0].message.content  # the upstream read the tool result as a tool message


def test_responses_through_the_upstream(native: OpenAI) -> None:
    r = native.responses.create(model="gpt-4o-mini", input="Say hello.", max_output_tokens=16)
    assert r.status in ("completed", "incomplete") and r.output_text.strip()
    assert r.usage is not None and r.usage.output_tokens > 0


def test_realtime_text_turn_through_the_upstream(native: OpenAI) -> None:
    with native.realtime.connect(model="gpt-realtime-mini") as conn:
        assert json.loads(conn.recv_bytes())["type"] == "session.created"
        conn.send({"type": "conversation.item.create", "item": {
            "type": "message", "role": "user", "content": [{"type": "input_text", "text": "What colour is the sky?"}]}})
        conn.send({"type": "response.create", "response": {"output_modalities": ["text"], "max_output_tokens": 20}})
        events = []
        while not events or events[-1]["type"] != "response.done":
            events.append(json.loads(conn.recv_bytes()))
    assert "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta").strip()
    assert events[-1]["response"]["status"] in ("completed", "incomplete")


def test_live_delegation_decision_goes_through_the_upstream(as_json: OpenAI) -> None:
    llm = _llm(as_json)
    turns = [Turn("system", "You are a voice assistant."), Turn("user", "Book a table for two at eight.")]
    wanted, how = wants_delegation(llm, turns, ["Delegate restaurant bookings and table reservations."])
    assert wanted and how in ("decision_pass", "rule")
    call = llm.decide(turns, [ToolSpec("book_table", "Book a restaurant table.",
                                       {"type": "object", "properties": {"people": {"type": "integer"}}})],
                      required=True)
    assert call is not None and call.name == "book_table" and isinstance(json.loads(call.arguments), dict)


# -- failures ----------------------------------------------------------------------------------


def _no_key(text: str) -> None:
    assert KEY not in text


def test_down_upstream_is_a_502_naming_the_url_not_the_key(standin_server: StandinServer,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as s:  # a port with nothing listening
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}/v1"
    caplog.set_level(logging.DEBUG)
    with front(standin_server, url) as client:
        with pytest.raises(openai.InternalServerError) as info:
            client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}])
        assert info.value.status_code == 502 and info.value.code == "upstream_error"
        assert url in info.value.message and KEY not in str(info.value.body)
        with pytest.raises(openai.APIError, match="could not be reached"):  # streamed: an error event
            list(client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}],
                                                stream=True))
        with pytest.raises(openai.InternalServerError) as responses_info:
            client.responses.create(model="gpt-4o-mini", input="Hi")
        assert responses_info.value.status_code == 502 and url in responses_info.value.message
        with client.realtime.connect(model="gpt-realtime-mini") as conn:
            conn.recv_bytes()
            conn.send({"type": "response.create", "response": {"output_modalities": ["text"]}})
            events = []
            while not events or events[-1]["type"] != "response.done":
                events.append(json.loads(conn.recv_bytes()))
                _no_key(json.dumps(events[-1]))
        error = RealtimeErrorEvent.model_validate(next(e for e in events if e["type"] == "error"))
        assert error.error.code == "upstream_error" and url in error.error.message
        assert events[-1]["response"]["status"] == "failed"
    _no_key(caplog.text)


def test_hung_upstream_is_a_504(standin_server: StandinServer) -> None:
    with socket.socket() as hung:  # accepts (the kernel's backlog) and never answers
        hung.bind(("127.0.0.1", 0))
        hung.listen()
        url = f"http://127.0.0.1:{hung.getsockname()[1]}/v1"
        with front(standin_server, url, timeout_s=1.0) as client, pytest.raises(openai.APIStatusError) as info:
            client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}])
    assert info.value.status_code == 504 and info.value.code == "upstream_timeout" and url in info.value.message


def test_upstream_dying_mid_stream_then_recovering(standin_server: StandinServer) -> None:
    relay = Relay((standin_server.host, standin_server.port))
    try:
        with front(standin_server, relay.base_url) as client:
            stream = client.chat.completions.create(
                model="gpt-4o-mini", stream=True, max_completion_tokens=400, temperature=0.8,
                messages=[{"role": "user", "content": "Tell me a long story about a dragon and a knight."}])
            got = []
            with pytest.raises(openai.APIError, match=r"broke off|could not be reached") as info:
                for chunk in stream:
                    got += [c.delta.content for c in chunk.choices if c.delta.content]
                    if got and relay._pairs:
                        relay.cut()  # the upstream goes away while it streams
            assert got and relay.base_url in info.value.message and KEY not in info.value.message
            with pytest.raises(openai.InternalServerError):  # down: 502
                client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}])
            relay.restore()  # back on the same port: the front answers again, unchanged
            r = client.chat.completions.create(model="gpt-4o-mini", max_completion_tokens=10,
                                               messages=[{"role": "user", "content": "Say hello."}])
            assert r.choices[0].message.content
    finally:
        relay.cut()
