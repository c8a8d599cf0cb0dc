"""Replies keep to the sentence count their instructions ask for (issue 25, item 7).

The rule (:mod:`voicekit.standin.engines.sentence_limit`) on its own, then through the
SDK on Chat Completions (plain and streamed) and Responses, which share the engine.
"""

from __future__ import annotations

import re

import pytest

from voicekit.standin.engines.llm_types import Turn
from voicekit.standin.engines.sentence_limit import SentenceLimit, asked_sentences

ONE = "You are a friendly voice assistant. Answer in one short sentence."
QUESTIONS = ["Tell me about Paris.", "What can you do?", "Why is the sky blue?", "Tell me about dogs."]


def sentences(text: str) -> int:
    return len([s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s.strip()])


@pytest.mark.parametrize(("instructions", "limit"), [
    (ONE, 1),
    ("Answer in one or two short sentences.", 2),
    ("Answer in three long sentences.", 3),
    ("Answer in French, in one short sentence.", 1),
    ("Tell a long story of at least five sentences.", None),
    (ONE + " When asked for a story, tell a long one of at least five sentences.", None),  # two counts: a rule
    ("Repeat what the user said.", None),
])
def test_the_count_read_from_the_instructions(instructions: str, limit: int | None) -> None:
    assert asked_sentences([Turn("system", instructions), Turn("user", "Hi, in one sentence please.")]) == limit


def test_the_limit_ends_at_a_full_sentence_and_keeps_numbers_and_titles() -> None:
    limit = SentenceLimit(1)
    pieces = [limit.feed(p) for p in ["Mr. Smith says it is 10.5", " degrees", ".", " Then more.", " And more."]]
    assert "".join(pieces) == "Mr. Smith says it is 10.5 degrees." and limit.done
    free = SentenceLimit(None)
    assert "".join(free.feed(p) for p in ["One. ", "Two. ", "Three."]) == "One. Two. Three." and not free.done


def test_chat_completions_keep_to_one_sentence(client) -> None:
    counts = []
    for question in QUESTIONS:
        r = client.chat.completions.create(model="gpt-4.1-mini", temperature=0, messages=[
            {"role": "system", "content": ONE}, {"role": "user", "content": question}])
        text = r.choices[0].message.content or ""
        counts.append(sentences(text))
        assert r.choices[0].finish_reason == "stop" and r.usage.completion_tokens > 0, r
    assert counts == [1] * len(QUESTIONS), counts


def test_streamed_chat_and_responses_keep_to_one_sentence_too(client) -> None:
    question = QUESTIONS[0]
    stream = client.chat.completions.create(model="gpt-4.1-mini", temperature=0, stream=True, messages=[
        {"role": "system", "content": ONE}, {"role": "user", "content": question}])
    streamed = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    response = client.responses.create(model="gpt-4.1-mini", temperature=0, instructions=ONE, input=question)
    assert sentences(streamed) == 1 and sentences(response.output_text) == 1, (streamed, response.output_text)
    assert response.status == "completed"
