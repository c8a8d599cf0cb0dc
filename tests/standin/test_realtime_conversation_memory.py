"""A Realtime session's conversation keeps a bounded amount of audio (issue 26, memory)."""

from __future__ import annotations

import concurrent.futures

import numpy as np
import pytest

from voicekit.formats import REALTIME_SAMPLE_RATE
from voicekit.standin.realtime import conversation
from voicekit.standin.realtime.conversation import Conversation, user_audio_item


def _turn(seconds: float, transcribed: bool = True) -> conversation.Item:
    item = user_audio_item(np.ones(int(seconds * REALTIME_SAMPLE_RATE), np.int16))
    assert item.transcript is not None
    if transcribed:
        item.transcript.set_result("hello")
    return item


def test_the_oldest_items_lose_their_audio_beyond_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(conversation, "MAX_AUDIO_S", 2, raising=False)
    conv = Conversation()
    items = [_turn(0.8) for _ in range(4)]  # 3.2 s in all, against 2 s kept
    for item in items:
        conv.add(item)
    assert [i.audio is not None for i in conv.items()] == [False, False, True, True]
    assert "audio" not in items[0].wire(with_audio=True)["content"][0]  # retrieve: the item, no bytes
    assert len(conv) == 4


def test_audio_whisper_has_not_read_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(conversation, "MAX_AUDIO_S", 1, raising=False)
    conv = Conversation()
    pending = _turn(0.8, transcribed=False)
    conv.add(pending)
    conv.add(_turn(0.8))
    conv.add(_turn(0.8))
    assert pending.audio is not None
    assert isinstance(pending.transcript, concurrent.futures.Future)
