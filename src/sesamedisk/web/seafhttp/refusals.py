"""What the /seafhttp upload endpoints share: Seafile's own upload statuses and form fields.

Seafile answers some upload failures with codes of its own instead of the transport's table:
440 invalid file name, 441 a file exists (or a path component is a file), 442 too large,
443 quota exceeded, 446 blocks not uploaded. The body is {"error": message}, plus "missing"
(the block ids) for 446.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from datetime import datetime

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from sesamedisk import errors
from sesamedisk.domain import paths
from sesamedisk.services.block_uploads import BlocksMissing

Endpoint = Callable[[Request], Awaitable[Response]]


class BadFileName(errors.InvalidRequest):
    """A file name Seafile refuses with 440."""


UPLOAD_STATUS: dict[type[errors.SesameError], int] = {
    BadFileName: 440, errors.AlreadyExists: 441, errors.TooLarge: 442,
    errors.QuotaExceeded: 443, BlocksMissing: 446}
"""Seafile's own upload status codes; anything else goes to the transport's table."""


def file_name(raw: str) -> str:
    """A valid file name; BadFileName (440) otherwise."""
    try:
        return paths.validate_name(raw)
    except errors.InvalidRequest as exc:
        raise BadFileName(exc.message) from exc


def mtime(text: str | None) -> int | None:
    """Seconds since the epoch of an RFC 3339 `last_modify`, None if absent or unreadable."""
    if not text:
        return None
    try:
        return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())
    except (ValueError, OverflowError):
        return None


def refusal(exc: errors.SesameError) -> Response | None:
    """Seafile's upload answer for an error it has its own code for, else None."""
    for cls, status in UPLOAD_STATUS.items():
        if isinstance(exc, cls):
            body: dict[str, object] = {"error": exc.message}
            if isinstance(exc, BlocksMissing):
                body["missing"] = exc.missing
            return JSONResponse(body, status_code=status)
    return None


def with_upload_statuses(endpoint: Endpoint) -> Endpoint:
    """The endpoint, answering errors in UPLOAD_STATUS with Seafile's own codes."""
    @functools.wraps(endpoint)
    async def answered(request: Request) -> Response:
        try:
            return await endpoint(request)
        except errors.SesameError as exc:
            answer = refusal(exc)
            if answer is None:
                raise
            return answer

    return answered
