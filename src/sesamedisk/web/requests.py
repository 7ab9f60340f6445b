"""Reading request bodies safely: size limits, JSON arrays, and sync iteration of streams."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, Literal, TypeVar

import anyio.from_thread
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import ClientDisconnect, Request

from sesamedisk.errors import InvalidRequest, TooLarge
from sesamedisk.ports.deps import Deps

MAX_JSON_BYTES = 4 * 1024 * 1024
MAX_FORM_BYTES = 64 * 1024
FORM_PART_BYTES = 1024 * 1024
"""Largest field of a form sent without a Content-Length (Starlette's own default)."""


async def read_small_form(request: Request, *, limit: int = MAX_FORM_BYTES,
                          over_limit: Literal[400, 413] = 400,
                          require_length: bool = False) -> FormData:
    """A url-encoded or multipart form of text fields only, at most `limit` bytes.

    A Content-Length over `limit` is InvalidRequest (400) or, with `over_limit=413`,
    TooLarge. A missing one counts as 0 unless `require_length` (then InvalidRequest).
    """
    declared = request.headers.get("content-length", "" if require_length else "0")
    if not (declared.isascii() and declared.isdigit()):
        raise InvalidRequest("the form needs a Content-Length" if require_length
                             else "form body missing or too large")
    if int(declared) > limit:
        if over_limit == 413:
            raise TooLarge(f"the form is larger than {limit} bytes")
        raise InvalidRequest("form body missing or too large")
    return await request.form(max_files=0, max_fields=50,
                              max_part_size=max(limit, FORM_PART_BYTES))


def form_text(form: FormData, name: str, default: str | None = None) -> str | None:
    """A text field of the form (`default` when absent); InvalidRequest for a file part."""
    value = form.get(name, default)
    if value is not None and not isinstance(value, str):
        raise InvalidRequest(f"{name} must be a text field")
    return value


def deps_of(request: Request) -> Deps:
    """The services' dependencies the application was built with."""
    deps: Deps = request.app.state.deps
    return deps


def seafhttp_url(request: Request, path: str) -> str:
    """The absolute URL of `/seafhttp/<path>` on the host and scheme the client used."""
    return f"{str(request.base_url).rstrip('/')}/seafhttp/{path}"


def required_path(request: Request) -> str:
    """The query parameter `p` (a path in a library); InvalidRequest when missing."""
    path = request.query_params.get("p")
    if not path:
        raise InvalidRequest("query parameter p (the path) is required")
    return path


def int_query(request: Request, name: str, default: int) -> int:
    """A non-negative integer query parameter; `default` when absent or empty."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if not (raw.isascii() and raw.isdigit()):
        raise InvalidRequest(f"query parameter {name} must be a non-negative integer")
    return int(raw)


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refusing more than `limit` bytes before reading them all."""
    declared = _declared_length(request, limit)
    body = bytearray()
    try:
        async for piece in request.stream():
            body += piece
            if len(body) > limit:
                raise TooLarge(f"request body is larger than {limit} bytes")
    except ClientDisconnect as exc:
        raise InvalidRequest("client disconnected before the body was complete") from exc
    if declared is not None and len(body) != declared:
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


STREAM_CHUNK = 1024 * 1024


async def stream_body(request: Request, write: Callable[[memoryview], None], limit: int) -> int:
    """Pass the body to a blocking `write` in 1 MiB pieces from a worker thread.

    Two reused buffers take turns: while a worker thread hashes and writes one, the event
    loop fills the other, so receiving overlaps disk work and memory stays at 2 MiB.
    """
    declared = _declared_length(request, limit)
    views = [memoryview(bytearray(STREAM_CHUNK)), memoryview(bytearray(STREAM_CHUNK))]
    view = views[0]
    in_flight: asyncio.Task[None] | None = None

    async def hand_over(full: memoryview) -> None:
        nonlocal in_flight
        if in_flight is not None:
            await in_flight
        in_flight = asyncio.ensure_future(run_in_threadpool(write, full))

    filled = total = 0
    try:
        async for piece in request.stream():
            total += len(piece)
            if total > limit:
                raise TooLarge(f"request body is larger than {limit} bytes")
            source = memoryview(piece)
            offset = 0
            while offset < len(source):
                take = min(len(source) - offset, STREAM_CHUNK - filled)
                view[filled:filled + take] = source[offset:offset + take]
                filled += take
                offset += take
                if filled == STREAM_CHUNK:
                    await hand_over(view)
                    view = views[1] if view is views[0] else views[0]
                    filled = 0
        if filled:
            await hand_over(view[:filled])
    except ClientDisconnect as exc:
        raise InvalidRequest("client disconnected before the body was complete") from exc
    finally:
        if in_flight is not None:
            await asyncio.wait([in_flight])
            if not in_flight.cancelled():
                in_flight.exception()  # retrieved here; raised below unless already failing
    if in_flight is not None:
        in_flight.result()
    if declared is not None and total != declared:
        raise InvalidRequest("request body is shorter than its Content-Length")
    return total


def _declared_length(request: Request, limit: int) -> int | None:
    declared = request.headers.get("content-length")
    if declared is None:
        return None
    if not (declared.isascii() and declared.isdigit()):
        raise InvalidRequest("invalid Content-Length")
    if int(declared) > limit:
        raise TooLarge(f"request body is larger than {limit} bytes")
    return int(declared)


Piece = TypeVar("Piece", bytes, bytearray)


def blocking_iter(stream: AsyncIterator[Piece]) -> Iterator[Piece]:
    """Iterate an async byte stream from a worker thread started by anyio."""
    async def next_piece() -> Piece:
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
