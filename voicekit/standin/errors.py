"""OpenAI-shaped HTTP errors for the stand-in.

Every error body is ``{"error": {"message", "type", "param", "code"}}``, the
shape the ``openai`` SDK turns into ``openai.APIStatusError`` subclasses
(``BadRequestError`` for 400, ``NotFoundError`` for 404, ...). Source: the
OpenAI API reference, "Error codes".
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from ..errors import StandinError

__all__ = ["UPSTREAM_STATUS", "OpenAIError", "UpstreamError", "error_response", "handle_openai_error", "model_not_found"]


class OpenAIError(Exception):
    """An error answered to the client as OpenAI would answer it."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code


UPSTREAM_STATUS = {"upstream_error": 502, "upstream_timeout": 504}
"""HTTP status of each :class:`UpstreamError` code: 502 Bad Gateway, 504 Gateway Timeout (RFC 9110, 15.6.3 and 15.6.5)."""


class UpstreamError(OpenAIError, StandinError):
    """The upstream LLM (:mod:`.upstream`) is down, refused, broke off or timed out.

    ``status`` is 502 (code ``upstream_error``) or 504 (code ``upstream_timeout``);
    ``type`` is ``server_error``. The message names the upstream URL, never its key.
    """

    def __init__(self, message: str, *, timeout: bool = False) -> None:
        code = "upstream_timeout" if timeout else "upstream_error"
        super().__init__(UPSTREAM_STATUS[code], message, type="server_error", code=code)


def error_response(err: OpenAIError) -> JSONResponse:
    """The JSON response for ``err``."""
    body = {"error": {"message": err.message, "type": err.type, "param": err.param, "code": err.code}}
    return JSONResponse(body, status_code=err.status)


async def handle_openai_error(request: Request, exc: Exception) -> JSONResponse:
    """Starlette exception handler for :class:`OpenAIError`."""
    assert isinstance(exc, OpenAIError)
    return error_response(exc)


def model_not_found(model: str) -> OpenAIError:
    """The 404 OpenAI answers for a model it does not serve."""
    return OpenAIError(
        404,
        f"The model `{model}` does not exist or you do not have access to it.",
        param="model",
        code="model_not_found",
    )
