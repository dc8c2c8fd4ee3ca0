"""What every section's endpoints share: errors as JSON, request bodies read safely.

An endpoint raises `ApiError`; the app turns it into `{"error": {"code", "message"}}`
with its status, so a browser script (and a test) reads every failure the same way.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

MAX_BODY = 2_000_000  # bytes: a rules file or a payload, never more


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def error_response(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    body = {"error": {"code": code, "message": message}, **extra}
    return JSONResponse(body, status_code=status)


async def api_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.code, exc.message)


async def workbench_error(_request: Request, exc: Exception) -> JSONResponse:
    """A WorkbenchError (the sections' plain modules raise it), with what it carries
    (the diagnostics of rules that have errors)."""
    status, code = getattr(exc, "status", 400), getattr(exc, "code", "error")
    extra = dict(getattr(exc, "extra", {}))
    return error_response(status, code, str(exc), **extra)


async def read_object(request: Request) -> dict[str, Any]:
    """The request's JSON object body, or a 400/413 saying what is wrong with it.

    The limit holds while reading: a body declared or sent over it is refused before
    more of it is kept in memory."""
    too_large = ApiError(413, "too_large", f"the request body is over {MAX_BODY} bytes")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise too_large
        chunks.append(chunk)
    try:
        value = json.loads(b"".join(chunks))
    except (ValueError, UnicodeDecodeError) as err:
        raise ApiError(400, "bad_json", f"the request body is not JSON: {err}") from None
    except RecursionError:
        raise ApiError(400, "bad_json", "the request body is nested too deeply") from None
    if not isinstance(value, dict):
        raise ApiError(400, "bad_json", "the request body must be a JSON object")
    return value


def field_of(body: dict[str, Any], name: str, kind: type, required: bool = True) -> Any:
    """`body[name]`, checked to be a `kind` (a 400 naming the field otherwise)."""
    if name not in body or body[name] is None:
        if required:
            raise ApiError(400, "missing_field", f"the request needs {name!r}")
        return None
    value = body[name]
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise ApiError(400, "bad_field", f"{name!r} must be a {kind.__name__}")
    return value
