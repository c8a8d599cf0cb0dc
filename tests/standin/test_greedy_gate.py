"""Greedy LLM requests run alone and without the prompt cache (engines.greedy_gate), with a fake llama.cpp."""

from __future__ import annotations

import threading
import time

from voicekit.standin.engines.greedy_gate import GreedyGate


class FakeLlama:
    """Stands in for ``xllamacpp.Server.handle_chat_completions``: records who ran together."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running: set[str] = set()
        self.overlaps: dict[str, set[str]] = {}
        self.requests: list[dict] = []

    def handle(self, req: dict, on_chunk=None) -> dict:
        name = req["name"]
        with self.lock:
            self.requests.append(req)
            self.overlaps.setdefault(name, set()).update(self.running)
            for other in self.running:
                self.overlaps.setdefault(other, set()).add(name)
            self.running.add(name)
        time.sleep(float(req.get("decode_s", 0.05)))
        with self.lock:
            self.running.discard(name)
        if on_chunk is not None:
            on_chunk({"choices": []})
        return {"choices": [{"message": {"content": name}}]}


def _run_all(gate: GreedyGate, llama: FakeLlama, reqs: list[dict], stagger_s: float = 0.01) -> None:
    threads = []
    for req in reqs:
        t = threading.Thread(target=gate.run, args=(llama.handle, req))
        t.start()
        threads.append(t)
        time.sleep(stagger_s)
    for t in threads:
        t.join(5)
        assert not t.is_alive()


def test_a_greedy_request_never_decodes_beside_another():
    gate, llama = GreedyGate(), FakeLlama()
    reqs = [
        {"name": "story", "temperature": 0.8, "decode_s": 0.3},
        {"name": "greedy", "temperature": 0, "decode_s": 0.1},
        {"name": "sampled", "temperature": 0.2, "decode_s": 0.1},
        {"name": "decision", "temperature": 0.0, "decode_s": 0.1},
    ]
    _run_all(gate, llama, reqs)
    assert llama.overlaps.get("greedy", set()) == set()
    assert llama.overlaps.get("decision", set()) == set()
    assert gate.busy == 0


def test_sampled_requests_still_decode_together():
    gate, llama = GreedyGate(), FakeLlama()
    _run_all(gate, llama, [{"name": f"s{i}", "temperature": 0.7, "decode_s": 0.3} for i in range(3)])
    assert llama.overlaps["s0"] == {"s1", "s2"}  # llama.cpp batches them, as before


def test_a_waiting_greedy_request_goes_before_later_sampled_ones():
    gate, llama = GreedyGate(), FakeLlama()
    order: list[str] = []
    real = llama.handle

    def handle(req, on_chunk=None):
        order.append(req["name"])
        return real(req, on_chunk)

    reqs = [{"name": "first", "temperature": 0.7, "decode_s": 0.3},
            {"name": "greedy", "temperature": 0, "decode_s": 0.05},
            {"name": "later", "temperature": 0.7, "decode_s": 0.05}]
    threads = []
    for req in reqs:
        threads.append(threading.Thread(target=gate.run, args=(handle, req)))
        threads[-1].start()
        time.sleep(0.05)
    for t in threads:
        t.join(5)
    assert order == ["first", "greedy", "later"]


def test_requests_go_to_llama_cpp_as_given_with_their_chunk_callback():
    gate, llama = GreedyGate(), FakeLlama()
    greedy = {"name": "g", "temperature": 0}
    chunks: list[dict] = []
    assert gate.run(llama.handle, greedy)["choices"][0]["message"]["content"] == "g"
    gate.run(llama.handle, {"name": "s", "temperature": 0.2}, chunks.append)
    assert llama.requests[0] == greedy and len(chunks) == 1  # the prompt cache stays on: see the module


def test_a_failing_request_releases_the_gate():
    gate = GreedyGate()

    def boom(req):
        raise RuntimeError("llama.cpp failed")

    for temperature in (0, 0.5):
        try:
            gate.run(boom, {"temperature": temperature})
        except RuntimeError:
            pass
    assert gate.busy == 0
    done = threading.Event()
    threading.Thread(target=lambda: (gate.run(lambda r: None, {"temperature": 0}), done.set())).start()
    assert done.wait(2)
