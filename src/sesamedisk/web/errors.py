"""One table per transport mapping the error tree to HTTP status codes."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from sesamedisk import errors

log = logging.getLogger("sesamedisk.web")

SEAFHTTP_STATUS: dict[type[errors.SesameError], int] = {
    errors.InvalidRequest: 400,
    errors.Unauthenticated: 403,
    errors.PermissionDenied: 403,
    errors.LibraryDeleted: 444,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.FileLocked: 403,
    errors.QuotaExceeded: 443,
    errors.TooLarge: 413,
    errors.TooManyRequests: 429,
    errors.Corrupted: 445,
    errors.Unavailable: 503,
    errors.SesameError: 500,
}
"""Status codes the Seafile daemon understands (spec section 12)."""

API_STATUS: dict[type[errors.SesameError], int] = {
    errors.InvalidRequest: 400,
    errors.Unauthenticated: 401,
    errors.LibraryLocked: 440,
    errors.PermissionDenied: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.QuotaExceeded: 443,
    errors.TooLarge: 413,
    errors.TooManyRequests: 429,
    errors.Corrupted: 500,
    errors.Unavailable: 503,
    errors.SesameError: 500,
}
"""Status codes of api2 and our own JSON API."""


def status_for(table: dict[type[errors.SesameError], int], exc: errors.SesameError) -> int:
    """The status of the most specific class of `exc` that the table names."""
    for cls in type(exc).__mro__:
        if cls in table:
            return table[cls]
    return 500


async def handle_sesame_error(request: Request, exc: Exception) -> Response:
    """Answer an expected error with the transport's status and a clear message."""
    assert isinstance(exc, errors.SesameError)
    if request.url.path.startswith("/seafhttp/"):
        status = status_for(SEAFHTTP_STATUS, exc)
        if status == 403 and exc.message == "no write permission":
            return JSONResponse({"reason": "no write permission"}, status_code=403)
        if status >= 500:
            log.error("%s %s failed: %s", request.method, request.url.path, exc.message)
        return PlainTextResponse(exc.message, status_code=status)
    status = status_for(API_STATUS, exc)
    if status >= 500:
        log.error("%s %s failed: %s", request.method, request.url.path, exc.message)
    return JSONResponse({"error_msg": exc.message}, status_code=status)


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    """Log an unexpected failure and answer 500 without internals."""
    log.exception("unexpected error in %s %s", request.method, request.url.path, exc_info=exc)
    return PlainTextResponse("internal server error", status_code=500)
