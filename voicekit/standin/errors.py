"""OpenAI-shaped HTTP errors for the stand-in.

Every error body is ``{"error": {"message", "type", "param", "code"}}``, the
shape the ``openai`` SDK turns into ``openai.APIStatusError`` subclasses
(``BadRequestError`` for 400, ``NotFoundError`` for 404, ...). Source: the
OpenAI API reference, "Error codes".
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

__all__ = ["OpenAIError", "error_response", "handle_openai_error", "model_not_found"]


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
