"""Reading request bodies safely: size limits, JSON arrays, and sync iteration of streams."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio.from_thread
from starlette.requests import ClientDisconnect, Request

from sesamedisk.errors import InvalidRequest, TooLarge

MAX_JSON_BYTES = 4 * 1024 * 1024


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refusing more than `limit` bytes before reading them all."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise TooLarge(f"request body is larger than {limit} bytes")
        except ValueError as exc:
            raise InvalidRequest("invalid Content-Length") from exc
    body = bytearray()
    try:
        async for piece in request.stream():
            body += piece
            if len(body) > limit:
                raise TooLarge(f"request body is larger than {limit} bytes")
    except ClientDisconnect as exc:
        raise InvalidRequest("client disconnected before the body was complete") from exc
    if declared is not None and len(body) != int(declared):
        raise InvalidRequest("request body is shorter than its Content-Length")
    return bytes(body)


async def read_json(request: Request, limit: int = MAX_JSON_BYTES) -> Any:
    """A JSON body, whatever its Content-Type says (the Seafile daemon mislabels it)."""
    body = await read_body(request, limit)
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequest("request body is not valid JSON") from exc


async def read_json_list(request: Request) -> list[Any]:
    """A JSON array body."""
    value = await read_json(request)
    if not isinstance(value, list):
        raise InvalidRequest("request body must be a JSON array")
    return value


def blocking_iter(stream: AsyncIterator[bytes]) -> Iterator[bytes]:
    """Iterate an async byte stream from a worker thread started by anyio."""
    async def next_piece() -> bytes:
        return await stream.__anext__()

    while True:
        try:
            piece = anyio.from_thread.run(next_piece)
        except StopAsyncIteration:
            return
        except ClientDisconnect as exc:
            raise InvalidRequest("client disconnected before the upload was complete") from exc
        if piece:
            yield piece
