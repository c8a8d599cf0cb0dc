"""The voicekit exception hierarchy.

::

    VoiceKitError                      (base of everything voicekit raises)
    ├── AudioError (ValueError)        (audio that cannot be used)
    │   ├── AudioFormatError           (not decodable, wrong header, wrong dtype or rate)
    │   └── EmptyAudioError            (decodes fine but holds zero frames)
    ├── MissingDependencyError (ImportError) (no stand-in engines: the message gives the pip command)
    ├── MicrophoneError (RuntimeError) (the browser could not record: permission, device, context)
    ├── StandinError (RuntimeError)    (the offline stand-in server failed to start)
    ├── RealtimeError (RuntimeError)   (a Realtime session: an ``error`` event, a lost socket)
    ├── ClosedError (RuntimeError)     (a session or agent used after it was closed)
    └── NotStartedError (RuntimeError) (audio or an event sent before the session's start())

Errors raised by the ``openai`` SDK (``openai.APIError`` and friends) are never
wrapped: in a teaching kit the SDK's own traceback is part of the lesson.
"""

from __future__ import annotations

__all__ = [
    "AudioError",
    "AudioFormatError",
    "ClosedError",
    "EmptyAudioError",
    "MicrophoneError",
    "MissingDependencyError",
    "NotStartedError",
    "RealtimeError",
    "StandinError",
    "VoiceKitError",
]


class VoiceKitError(Exception):
    """Base class of every exception voicekit raises."""


class AudioError(VoiceKitError, ValueError):
    """Audio that cannot be used; the message says what was expected and what came."""


class AudioFormatError(AudioError):
    """Bytes or arrays that are not audio voicekit can read.

    Raised for an empty or truncated file, a broken header, an absurd sample rate,
    a wrong dtype or shape, or a container no decoder understands.
    """


class EmptyAudioError(AudioError):
    """Audio that decodes correctly but holds zero frames (for example ``null.wav``)."""


class MissingDependencyError(VoiceKitError, ImportError):
    """An optional package is missing; the message gives the exact install command.

    Raised by :func:`voicekit._deps.require_standin` when the light install
    (``pip install voicekit``) is asked to start the offline stand-in, whose engines
    come with ``pip install 'voicekit[standin]'``.

    Attributes
    ----------
    missing : tuple of str
        Import names of the missing modules, e.g. ``("faster_whisper", "xllamacpp")``.
    commands : tuple of str
        The shell commands that install them, in order.
    """

    def __init__(self, message: str, missing: tuple[str, ...] = (), commands: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.missing, self.commands = missing, commands


class MicrophoneError(VoiceKitError, RuntimeError):
    """The browser could not record; ``kind`` says why.

    Attributes
    ----------
    kind : str
        ``"permission_denied"`` (``NotAllowedError``), ``"no_microphone"``
        (``NotFoundError``), ``"microphone_busy"`` (``NotReadableError``),
        ``"insecure_context"`` (no ``navigator.mediaDevices``: plain http on a host
        other than localhost), ``"audiocontext_suspended"`` (the autoplay policy held
        the AudioContext: start from a click), or ``"unknown"``. The names follow
        MDN's ``MediaDevices.getUserMedia()`` exceptions.
    """

    def __init__(self, message: str, kind: str = "unknown") -> None:
        super().__init__(message)
        self.kind = kind


class StandinError(VoiceKitError, RuntimeError):
    """The offline stand-in server could not be started or did not answer."""


class RealtimeError(VoiceKitError, RuntimeError):
    """A Realtime session could not go on: the server sent an ``error`` event, or the
    WebSocket closed.

    Attributes
    ----------
    error : dict or None
        The ``error`` object of the server's ``error`` event (``type``, ``code``,
        ``message``, ``param``, ``event_id``; openai.types.realtime.RealtimeError),
        or None when the socket closed.
    """

    def __init__(self, message: str, error: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.error = error


class ClosedError(VoiceKitError, RuntimeError):
    """A session or agent was used after it was closed.

    The message says why it closed (``close()``, a re-run cell that replaced it, the
    kernel's exit) and which cell to run again (``In [n]``, where it was created).

    Attributes
    ----------
    what : str
        The class of the closed object, e.g. ``"RealtimeSession"``.
    reason : str
        Why it closed.
    """

    def __init__(self, message: str, what: str = "", reason: str = "") -> None:
        super().__init__(message)
        self.what, self.reason = what, reason


class NotStartedError(VoiceKitError, RuntimeError):
    """Audio or an event reached a session before its ``start()`` ran (for example a
    Recorder streaming into a session that a re-run cell made and has not started)."""
