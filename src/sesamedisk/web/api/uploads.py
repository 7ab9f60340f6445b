"""Resumable chunked uploads of large files (our JSON API); chunks stream, never buffered.

Endpoints (JSON bodies; errors are {"error_msg"}):
- POST /api/v1/repos/<id>/uploads {path, size, mtime?, replace?} -> 201 {id, path, size,
  received} (a size-0 file is committed at once and the answer also has "file").
- GET /api/v1/repos/<id>/uploads?p=<path>&size=<n> -> {id, path, size, received}: the
  caller's open session for that file, to resume after a reload; 404 if there is none.
- GET /api/v1/uploads/<uid> -> {id, path, size, received} (only the session's owner).
- PUT /api/v1/uploads/<uid> with `Content-Range: bytes a-b/size` (+ optional
  `X-Chunk-SHA256`: hex SHA-256 of the body) appends bytes a..b -> 200 {received}, or on
  the last byte 201 {received, file: dirent}. A chunk not starting at `received` -> 409
  {error_msg, received}; a malformed range, a total other than the session's size, a body
  of another length or a wrong SHA-256 -> 400 with nothing recorded. `Content-Range:
  bytes */size` with an empty body asks for the state (and finishes an upload whose bytes
  were all recorded before its commit was cut short).
- DELETE /api/v1/uploads/<uid> -> 204: cancel the session.
Encrypted libraries must be unlocked by the session (POST /api/v1/repos/<id>/unlock): 440.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from typing import Any

import anyio.to_thread
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from sesamedisk.domain import crypto
from sesamedisk.domain.objects import Dirent
from sesamedisk.errors import InvalidRequest, NotFound
from sesamedisk.services import uploads
from sesamedisk.services.libraries import get_library
from sesamedisk.web.auth import current_user
from sesamedisk.web.requests import STREAM_CHUNK, blocking_iter, deps_of, read_json
from sesamedisk.web.unlocks import file_key_for

_RANGE = re.compile(r"^bytes (\d{1,15})-(\d{1,15})/(\d{1,15})$")
_STATUS_RANGE = re.compile(r"^bytes \*/(\d{1,15})$")
PREFETCH_PIECES = 4
"""1 MiB pieces received ahead of the worker thread: receiving overlaps hashing and writing."""


def _file_json(dirent: Dirent) -> dict[str, Any]:
    return {"name": dirent.name, "id": dirent.id, "mtime": dirent.mtime, "type": "file",
            "size": dirent.size or 0, "modifier": dirent.modifier or ""}


def _state_json(state: uploads.UploadState) -> dict[str, Any]:
    out: dict[str, Any] = {"id": state.id, "path": state.path, "size": state.size,
                           "received": state.received}
    if state.dirent is not None:
        out["file"] = _file_json(state.dirent)
    return out


def parse_content_range(header: str | None, size: int) -> tuple[int, int]:
    """(offset, length) of `bytes a-b/size`, or (size, 0) for `bytes */size`."""
    if header is None:
        raise InvalidRequest("Content-Range: bytes a-b/size is required")
    status = _STATUS_RANGE.match(header.strip())
    match = _RANGE.match(header.strip())
    if status is not None:
        total, offset, length = int(status.group(1)), size, 0
    elif match is not None:
        first, last, total = (int(match.group(n)) for n in (1, 2, 3))
        if last < first:
            raise InvalidRequest(f"Content-Range {header!r} ends before it starts")
        offset, length = first, last - first + 1
    else:
        raise InvalidRequest(f"Content-Range must be 'bytes a-b/size', not {header!r}")
    if total != size:
        raise InvalidRequest(f"Content-Range total {total} is not the upload's size {size}")
    if offset + length > size:
        raise InvalidRequest(f"Content-Range {header!r} goes past the end of the file")
    return offset, length


def _bool(value: object, what: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidRequest(f"{what} must be true or false")
    return value


def _int(value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidRequest(f"{what} must be an integer")
    return value


async def start(request: Request) -> Response:
    """POST /api/v1/repos/<id>/uploads {path, size, mtime?, replace?}: open a session."""
    user = await current_user(request)
    body = await read_json(request)
    if not isinstance(body, dict) or not isinstance(body.get("path"), str):
        raise InvalidRequest('body must be {"path": str, "size": int, "mtime"?: int, '
                             '"replace"?: bool}')
    size = _int(body.get("size"), "size")
    mtime = None if body.get("mtime") is None else _int(body["mtime"], "mtime")
    replace = _bool(body.get("replace", False), "replace")
    state = await run_in_threadpool(lambda: uploads.start_upload(
        deps_of(request), user, request.path_params["repo_id"], body["path"], size,
        mtime=mtime, replace=replace))
    return JSONResponse(_state_json(state), status_code=201)


async def find(request: Request) -> Response:
    """GET /api/v1/repos/<id>/uploads?p=&size=: the caller's open session for that file."""
    user = await current_user(request)
    path, size = request.query_params.get("p"), request.query_params.get("size", "")
    if not path or not (size.isascii() and size.isdigit()):
        raise InvalidRequest("query parameters p (the path) and size are required")
    state = await run_in_threadpool(uploads.find_upload, deps_of(request), user,
                                    request.path_params["repo_id"], path, int(size))
    if state is None:
        raise NotFound(f"no open upload of {path} with {size} bytes")
    return JSONResponse(_state_json(state))


async def status(request: Request) -> Response:
    """GET /api/v1/uploads/<uid>: how far the upload got."""
    user = await current_user(request)
    state = await run_in_threadpool(uploads.get_upload, deps_of(request), user,
                                    request.path_params["upload_id"])
    return JSONResponse(_state_json(state))


async def put_chunk(request: Request) -> Response:
    """PUT /api/v1/uploads/<uid> with Content-Range: append one chunk (body streamed)."""
    user = await current_user(request)
    deps, upload_id = deps_of(request), request.path_params["upload_id"]
    state = await run_in_threadpool(uploads.get_upload, deps, user, upload_id)
    library = await run_in_threadpool(get_library, deps, user, state.library_id)
    key: crypto.FileKey | None = file_key_for(request, library)
    offset, length = parse_content_range(request.headers.get("content-range"), state.size)
    chunk_sha256 = request.headers.get("x-chunk-sha256")
    queue: asyncio.Queue[bytearray | Exception | None] = asyncio.Queue(PREFETCH_PIECES)
    receiver = asyncio.ensure_future(_receive(request, queue))
    body = blocking_iter(_drain(queue))
    try:
        new = await anyio.to_thread.run_sync(lambda: uploads.append_chunk(
            deps, user, upload_id, offset, body, file_key=key, chunk_sha256=chunk_sha256,
            length=length))
    except uploads.UploadOffsetMismatch as exc:
        return JSONResponse({"error_msg": exc.message, "received": exc.received},
                            status_code=409)
    finally:
        receiver.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await receiver
    if new.dirent is not None:
        return JSONResponse({"received": new.received, "file": _file_json(new.dirent)},
                            status_code=201)
    return JSONResponse({"received": new.received})


async def _receive(request: Request, queue: asyncio.Queue[bytearray | Exception | None]) -> None:
    """Put the body into `queue` in 1 MiB pieces, then None (or the error that ended it)."""
    pending = bytearray()
    try:
        async for piece in request.stream():
            pending += piece
            if len(pending) >= STREAM_CHUNK:
                await queue.put(pending)  # handed over, not copied: a new buffer follows
                pending = bytearray()
        if pending:
            await queue.put(pending)
    except Exception as exc:  # a client disconnect: the worker raises it
        await queue.put(exc)
        return
    await queue.put(None)


async def _drain(queue: asyncio.Queue[bytearray | Exception | None]) -> AsyncIterator[bytearray]:
    """The pieces `_receive` queues, raising the error it met."""
    while True:
        item = await queue.get()
        if item is None:
            return
        if isinstance(item, Exception):
            raise item
        yield item


async def cancel(request: Request) -> Response:
    """DELETE /api/v1/uploads/<uid>: cancel the upload."""
    user = await current_user(request)
    await run_in_threadpool(uploads.cancel_upload, deps_of(request), user,
                            request.path_params["upload_id"])
    return Response(status_code=204)


def routes() -> list[BaseRoute]:
    """Every route of this module."""
    return [
        Route("/api/v1/repos/{repo_id}/uploads", start, methods=["POST"]),
        Route("/api/v1/repos/{repo_id}/uploads", find, methods=["GET"]),
        Route("/api/v1/uploads/{upload_id}", status, methods=["GET"]),
        Route("/api/v1/uploads/{upload_id}", put_chunk, methods=["PUT"]),
        Route("/api/v1/uploads/{upload_id}", cancel, methods=["DELETE"]),
    ]
