"""Transcriptions a head start can call off: cancelled on the wire, so the server stops too.

The cascaded agent transcribes the turn so far at a pause (its head start,
:mod:`._cascaded_vad`). When the user speaks on, that transcription is of no use, but the
sync SDK cannot cancel a request in flight: it ran to its end on the server, and the
transcription of the pause that does end the turn queued behind it. Here a head start's
request runs on an ``AsyncOpenAI`` copy of the agent's client
(:func:`voicekit.session.async_client`: the same key, base URL, organization and project)
in a background event loop. Calling it off cancels the task, which closes the connection;
the stand-in's transcription endpoint then stops Whisper's run at its next step
(``voicekit.standin.routes._disconnect``), and OpenAI sees the same closed connection.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from typing import TYPE_CHECKING, Any

from ..audio import Clip
from ..session import async_client

if TYPE_CHECKING:
    from openai import AsyncOpenAI, OpenAI
    from openai.types.audio import Transcription

__all__ = ["POLL_S", "CancellableTranscriber"]

logger = logging.getLogger(__name__)

POLL_S = 0.02
"""How often (s) a waiting transcription checks whether it was called off."""


class CancellableTranscriber:
    """``audio.transcriptions.create`` through a copy of ``client`` that :meth:`transcribe`'s caller can call off.

    The copy and its event loop thread start on the first :meth:`transcribe`;
    :meth:`close` stops them (the agent closes it with itself).
    """

    def __init__(self, client: OpenAI) -> None:
        self._client = client
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._async: tuple[AsyncOpenAI, bool] | None = None

    def _started(self) -> tuple[asyncio.AbstractEventLoop, AsyncOpenAI]:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                self._thread = threading.Thread(target=loop.run_forever, name="voicekit-cascaded-stt", daemon=True)
                self._thread.start()
                self._loop, self._async = loop, async_client(self._client)
            assert self._async is not None
            return self._loop, self._async[0]

    def transcribe(self, model: str, audio: Clip, cancelled: threading.Event) -> Transcription | None:
        """The transcription of ``audio`` (``model``: the API's model name), or None if
        ``cancelled`` was set first: the request is then cancelled and its connection closed.

        Raises
        ------
        openai.OpenAIError
            As ``client.audio.transcriptions.create`` does (a refused key, a bad file).
        """
        if cancelled.is_set():
            return None
        loop, client = self._started()
        future = asyncio.run_coroutine_threadsafe(
            client.audio.transcriptions.create(model=model, file=audio.to_file_tuple()), loop)
        while not concurrent.futures.wait([future], timeout=POLL_S).done:
            if cancelled.is_set():
                future.cancel()  # the task is cancelled in the loop: httpx closes the connection
                return None
        return future.result()

    def close(self, timeout: float = 5.0) -> None:
        """Close the client copy (if made here) and stop the loop thread; :meth:`transcribe` starts them again."""
        with self._lock:
            loop, thread, made, self._loop, self._thread, self._async = self._loop, self._thread, self._async, None, None, None
        if loop is None or thread is None:
            return
        if made is not None and made[1]:
            closing: Any = asyncio.run_coroutine_threadsafe(made[0].close(), loop)
            try:
                closing.result(timeout)
            except Exception:  # closing is best effort; the loop stops anyway
                logger.debug("closing the head-start transcription client failed", exc_info=True)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        if not thread.is_alive():
            loop.close()
