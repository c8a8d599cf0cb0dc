"""``Player``: play a Clip, or a stream of PCM16 chunks, gaplessly in the browser.

The kernel sends audio as PCM16 buffers in custom messages (never a synced trait,
so nothing is saved into the notebook); ``player.js`` schedules each chunk right
after the previous one on one Web Audio clock (``AudioBufferSourceNode.start(when)``),
so appended chunks play without gaps. ``played_ms`` comes back from the browser:
how far playback actually got, which is what a Realtime
``conversation.item.truncate`` needs as ``audio_end_ms`` after a barge-in.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import anywidget
import numpy as np
import numpy.typing as npt
import traitlets

from .._decode import check_rate as _check_rate
from ..audio import Clip
from ..errors import AudioFormatError
from ..formats import REALTIME_SAMPLE_RATE
from ._base import CSS, HERE, logger, new_uid

if TYPE_CHECKING:
    from .recorder import Recorder

__all__ = ["Player"]

_MAX_CHUNK_FRAMES = 48_000  # split long clips into messages of at most this many frames


class Player(anywidget.AnyWidget):
    """Play audio in JupyterLab 4 or Notebook 7, with play/pause and a waveform playhead.

    It never starts by itself and never loops unless asked (``autoplay=True``,
    ``loop=True``), unlike ``ipywidgets.Audio``, whose defaults are both True.

    Parameters
    ----------
    clip : Clip, optional
        Audio to load. Its rate becomes :attr:`sample_rate` unless that is given.
    sample_rate : int, optional
        Rate of the stream in Hz; default 24,000 (Realtime audio) or the clip's.
        Appended clips at another rate are resampled to it with soxr.
    autoplay : bool
        Start playing as soon as audio arrives (the browser may refuse without a
        click; :attr:`error` then says so). Default False.
    loop : bool
        Start again from the beginning at the end. Default False.

    Attributes
    ----------
    playing : bool
        True while audio plays; set it to request play or pause.
    played_ms : float
        Stream position heard so far, in ms, reported by the browser about every
        50 ms while playing. Read it before :meth:`clear` for a truncate.
    duration_ms : float
        Length of everything appended since the last :meth:`clear`, in ms.
    underruns : int
        Gaps heard since the last :meth:`clear`, reported by the browser: chunks that,
        while playing, started later than the end of the chunk before because they
        arrived too late. 0 means gapless. (When the queue runs dry, playback stops;
        a later chunk starts it again only with ``autoplay=True``.)
    error : str
        Why playback could not start ("" when fine).

    Notes
    -----
    Replies must not queue behind one another: after Run All, cells that ran turns for
    their own checks would otherwise leave a backlog (tens of seconds) that plays over
    the learner's first live turn. Two ways out, both here: :meth:`append` with
    ``turn=`` (audio of a new turn flushes what older turns still have queued), and
    :meth:`clear_when_recording` (the learner pressing Record flushes the backlog).
    """

    _esm = HERE / "player.js"
    _css = CSS
    _uid = traitlets.Unicode().tag(sync=True)
    sample_rate = traitlets.Int(REALTIME_SAMPLE_RATE).tag(sync=True)
    autoplay = traitlets.Bool(False).tag(sync=True)
    loop = traitlets.Bool(False).tag(sync=True)
    playing = traitlets.Bool(False).tag(sync=True)
    played_ms = traitlets.Float(0.0).tag(sync=True)
    duration_ms = traitlets.Float(0.0).tag(sync=True)
    underruns = traitlets.Int(0).tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)

    def __init__(
        self, clip: Clip | None = None, *, sample_rate: int | None = None, **kwargs: Any
    ) -> None:
        if sample_rate is None:
            sample_rate = clip.sample_rate if clip is not None else REALTIME_SAMPLE_RATE
        kwargs.setdefault("_uid", new_uid())
        super().__init__(sample_rate=sample_rate, **kwargs)
        self._chunks: list[npt.NDArray[np.int16]] = []
        self._gen = 0
        self._turn: str | None = None
        self._watched: tuple[Recorder, Callable[[Any], None]] | None = None
        self.on_msg(self._handle)
        if clip is not None:
            self.append(clip)

    @traitlets.validate("sample_rate")
    def _valid_rate(self, proposal: Any) -> int:
        return _check_rate(proposal["value"])

    # ------------------------------------------------------------------- API
    def load(self, clip: Clip) -> None:
        """Replace what is loaded with ``clip`` (stops playback first)."""
        self.clear()
        self.append(clip)

    def append(self, audio: Clip | bytes | npt.NDArray[np.int16], *, turn: str | None = None) -> None:
        """Queue audio after what is already queued, to play without a gap.

        Parameters
        ----------
        audio : Clip, bytes or numpy.ndarray
            A :class:`Clip` (any rate and channels: mixed to mono and resampled to
            :attr:`sample_rate`), headerless PCM16 little-endian mono ``bytes`` at
            :attr:`sample_rate` (as Realtime ``response.output_audio.delta`` carries
            after base64 decoding), or an ``int16`` array of shape ``(n_frames,)``.
        turn : str, optional
            The turn this audio belongs to (a Realtime ``response_id``, an agent's turn
            key). The first audio of a new turn flushes everything still queued
            (:meth:`clear`) and starts a new stream, so the newest reply plays and no
            backlog of older ones queues before it; :attr:`played_ms` then counts from
            that turn's start. Without ``turn`` audio just queues.

        Raises
        ------
        AudioFormatError
            For an odd byte count, another dtype or a multi-channel array.
        """
        samples = self._pcm16(audio)
        if turn is not None and turn != self._turn:
            if self._chunks:
                self.clear()
            self._turn = turn
        for start in range(0, samples.size, _MAX_CHUNK_FRAMES):
            part = np.ascontiguousarray(samples[start:start + _MAX_CHUNK_FRAMES])
            self._chunks.append(part)
            self._send_chunk(len(self._chunks) - 1)
        self.duration_ms = 1000.0 * sum(c.size for c in self._chunks) / self.sample_rate

    def clear(self) -> None:
        """Stop and flush everything queued (barge-in). ``played_ms`` keeps the last
        position the browser reported; new audio after this starts a new stream."""
        self._chunks = []
        self._gen += 1
        self.duration_ms = 0.0
        self.send({"type": "clear", "gen": self._gen})

    def clear_when_recording(self, recorder: Recorder | None) -> None:
        """Flush what is queued (:meth:`clear`) whenever ``recorder`` starts recording.

        The learner's live turn then starts clean: replies that earlier cells produced
        for their own checks stop instead of playing over what the learner says. A
        second call replaces the first (a re-run cell watches one recorder, not two);
        ``None`` stops watching.

        Parameters
        ----------
        recorder : Recorder or None
            Its ``recording`` trait going from False to True (Record clicked, or set
            from a cell) flushes this Player.
        """
        if self._watched is not None:
            old, handler = self._watched
            old.unobserve(handler, "recording")
            self._watched = None
        if recorder is None:
            return

        def flush(change: Any) -> None:
            if change["new"] and not change["old"] and self._chunks:
                self.clear()

        recorder.observe(flush, "recording")
        self._watched = (recorder, flush)

    def play(self) -> None:
        """Ask the browser to play (same as ``playing = True``)."""
        self.playing = True

    def pause(self) -> None:
        """Ask the browser to pause (same as ``playing = False``)."""
        self.playing = False

    @property
    def clip(self) -> Clip | None:
        """Everything appended since the last :meth:`clear`, as one PCM16 mono Clip."""
        if not self._chunks:
            return None
        return Clip(np.concatenate(self._chunks), self.sample_rate)

    # -------------------------------------------------------------- internals
    def _pcm16(self, audio: Clip | bytes | npt.NDArray[np.int16]) -> npt.NDArray[np.int16]:
        if isinstance(audio, Clip):
            return audio.to_mono().resample(self.sample_rate).to_int16().samples
        if isinstance(audio, (bytes, bytearray, memoryview)):
            return Clip.from_pcm16(bytes(audio), self.sample_rate, name="appended PCM16").samples
        array = np.asarray(audio)
        if array.dtype != np.int16 or array.ndim != 1:
            raise AudioFormatError(
                "expected a Clip, PCM16 bytes or an int16 array of shape (n_frames,), "
                f"got an array of dtype {array.dtype} and shape {array.shape}"
            )
        return array

    def _send_chunk(self, seq: int) -> None:
        data = self._chunks[seq].astype("<i2").tobytes()
        self.send(
            {"type": "chunk", "gen": self._gen, "seq": seq, "sample_rate": self.sample_rate},
            buffers=[data],
        )

    def _handle(self, _widget: Any, content: dict[str, Any], buffers: list[Any]) -> None:
        if content.get("type") != "need":
            logger.warning("Player: ignored a message of unknown type %r", content.get("type"))
            return
        if int(content.get("gen", -1)) != self._gen:
            self.send({"type": "clear", "gen": self._gen})
            first = 0
        else:
            first = int(content.get("seq", 0))
        for seq in range(first, len(self._chunks)):
            self._send_chunk(seq)
