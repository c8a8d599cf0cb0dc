"""Reading a multipart audio upload: size limit, form fields, decoding."""

from __future__ import annotations

import math

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request

from ...audio import Clip
from ...errors import AudioFormatError, EmptyAudioError
from ...formats import MAX_UPLOAD_BYTES
from ..errors import OpenAIError

__all__ = ["form_bool", "form_float", "form_list", "read_audio_form", "sse"]

_MULTIPART_OVERHEAD = 64 * 1024


def _too_large(n: int) -> OpenAIError:
    return OpenAIError(
        413,
        f"Maximum content size limit ({MAX_UPLOAD_BYTES}) exceeded ({n} bytes read)",
        param="file",
        code="file_too_large",
    )


async def read_audio_form(request: Request) -> tuple[FormData, Clip, str]:
    """Parse the multipart form and decode its ``file`` part.

    Returns
    -------
    (form, clip, filename)

    Raises
    ------
    OpenAIError
        400 for a missing, undecodable or empty file; 413 above OpenAI's 25 MB limit.
    """
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > MAX_UPLOAD_BYTES + _MULTIPART_OVERHEAD:
        raise _too_large(int(length))
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        raise OpenAIError(
            400,
            f"expected a multipart/form-data body with a 'file' part, got {content_type or 'no content type'!r}",
            param="file",
        )
    form = await request.form(max_files=1, max_fields=100)
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise OpenAIError(400, "you must provide a 'file' part with the audio", param="file", code="missing_required_parameter")
        data = await upload.read()
    finally:
        await form.close()  # closes the spooled temporary file; string fields stay readable
    if len(data) > MAX_UPLOAD_BYTES:
        raise _too_large(len(data))
    name = upload.filename or "file"
    try:
        clip = Clip.from_bytes(data, name=name)
    except EmptyAudioError as exc:
        raise OpenAIError(
            400, f"Audio file is too short. Minimum audio length is 0.1 seconds. ({exc})",
            param="file", code="audio_too_short",
        ) from exc
    except AudioFormatError as exc:
        raise OpenAIError(
            400, f"Audio file might be corrupted or unsupported: {exc}",
            param="file", code="invalid_value",
        ) from exc
    if clip.duration < 0.1:
        raise OpenAIError(
            400, f"Audio file is too short. Minimum audio length is 0.1 seconds, got {clip.duration:.3f} s.",
            param="file", code="audio_too_short",
        )
    return form, clip, name


def form_str(form: FormData, name: str) -> str | None:
    value = form.get(name)
    if value is None or isinstance(value, UploadFile):
        return None
    return value


def form_list(form: FormData, name: str) -> list[str]:
    """A repeated field, as the SDK sends lists: ``name[]`` (or plain ``name``)."""
    return [v for v in form.getlist(f"{name}[]") + form.getlist(name) if isinstance(v, str)]


def form_float(form: FormData, name: str, lo: float, hi: float) -> float | None:
    raw = form_str(form, name)
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not lo <= value <= hi:
        raise OpenAIError(400, f"Invalid '{name}': expected a number from {lo} to {hi}, got {raw!r}.", param=name, code="invalid_value")
    return value


def form_bool(form: FormData, name: str) -> bool:
    raw = (form_str(form, name) or "").lower()
    if raw in ("", "false", "0"):
        return False
    if raw in ("true", "1"):
        return True
    raise OpenAIError(400, f"Invalid '{name}': expected true or false, got {raw!r}.", param=name, code="invalid_value")


def sse(payload: str) -> bytes:
    """One server-sent event carrying ``payload`` (a JSON string) as its data."""
    return f"data: {payload}\n\n".encode()
