"""The voicekit exception hierarchy.

::

    VoiceKitError                      (base of everything voicekit raises)
    ├── AudioError (ValueError)        (audio that cannot be used)
    │   ├── AudioFormatError           (not decodable, wrong header, wrong dtype or rate)
    │   └── EmptyAudioError            (decodes fine but holds zero frames)
    ├── MissingDependencyError (ImportError)
    └── StandinError (RuntimeError)    (the offline stand-in server failed to start)

Errors raised by the ``openai`` SDK (``openai.APIError`` and friends) are never
wrapped: in a teaching kit the SDK's own traceback is part of the lesson.
"""

from __future__ import annotations

__all__ = [
    "AudioError",
    "AudioFormatError",
    "EmptyAudioError",
    "MissingDependencyError",
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
    """An optional package is missing; the message gives the exact install command."""


class StandinError(VoiceKitError, RuntimeError):
    """The offline stand-in server could not be started or did not answer."""
