"""Shared plumbing of the voicekit widgets: callback lists (from :mod:`voicekit._callbacks`),
PCM16 buffers, the logger."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from .._callbacks import CallbackHandle, Callbacks, callback_key
from ..errors import AudioFormatError

logger = logging.getLogger("voicekit.widgets")
"""Widget events go here: errors from the browser, lost chunks, failing callbacks."""

HERE = Path(__file__).parent
CSS = HERE / "widgets.css"

__all__ = ["CSS", "HERE", "CallbackHandle", "Callbacks", "callback_key", "esm_with_hub", "logger", "new_uid", "pcm16_from_buffer"]


def esm_with_hub(name: str) -> str:
    """The anywidget module ``name`` (a file beside this one) with ``hub.js`` in front of it.

    ``hub.js`` holds what the Recorder's and the call widget's pages share (whether the page
    is JupyterHub's, and the advice for an insecure context there); an anywidget module is
    loaded from a string, so it cannot import a sibling file.
    """
    return (HERE / "hub.js").read_text(encoding="utf-8") + "\n" + (HERE / name).read_text(encoding="utf-8")


def new_uid() -> str:
    """A random id that ties a Python widget to its one audio engine in the browser."""
    return uuid.uuid4().hex


def pcm16_from_buffer(buffer: Any, what: str) -> npt.NDArray[np.int16]:
    """PCM16 little-endian samples from one message buffer (a ``memoryview`` from the comm).

    Raises
    ------
    AudioFormatError
        If the byte count is odd (not a whole number of 16-bit samples).
    """
    raw = memoryview(buffer).cast("B")
    if raw.nbytes % 2:
        raise AudioFormatError(f"expected PCM16 in {what}, an even byte count, got {raw.nbytes}")
    return np.frombuffer(raw, dtype="<i2").astype(np.int16)
