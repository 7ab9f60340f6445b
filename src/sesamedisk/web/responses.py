"""Responses that stream file content: read-ahead of blocks and the download headers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from urllib.parse import quote

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

SEND_PIECE = 1024 * 1024
"""Largest write handed to the server: bigger ones send slower on uvloop (measured)."""


def content_disposition(name: str, *, inline: bool = False) -> str:
    """`attachment` (or `inline`) naming the file, with an ASCII fallback for old clients."""
    fallback = name.encode("ascii", "replace").decode().replace('"', "_").replace("?", "_")
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name)}"


READ_AHEAD_BYTES = 8 * 1024 * 1024
"""Chunks are read ahead in batches of at least this many bytes (or to the end)."""


def _next_batch(chunks: Iterator[bytes]) -> list[bytes]:
    """The next chunks, at least READ_AHEAD_BYTES of them unless the end comes first.

    Blocks average 4 MiB, so batching halves the hand-offs between thread and event loop.
    """
    batch: list[bytes] = []
    size = 0
    while size < READ_AHEAD_BYTES and (chunk := next(chunks, None)) is not None:
        batch.append(chunk)
        size += len(chunk)
    return batch


async def read_ahead(chunks: Iterator[bytes]) -> AsyncIterator[bytes | memoryview]:
    """Yield `chunks`, in pieces of at most `SEND_PIECE`, while a thread reads the next ones.

    Reading (and verifying) a block then overlaps sending the previous one, where a plain
    iteration would leave the socket idle during every read; 1 MiB writes are what the
    server sends fastest (docs/adr/0011-web-transfer-speed.md). At most one batch of chunks
    (`_next_batch`) is read ahead; the iterator is closed at the end, also when the client
    goes away.
    """
    pending = asyncio.ensure_future(anyio.to_thread.run_sync(_next_batch, chunks))
    try:
        while batch := await pending:
            pending = asyncio.ensure_future(anyio.to_thread.run_sync(_next_batch, chunks))
            for chunk in batch:
                if len(chunk) <= SEND_PIECE:
                    yield chunk
                    continue
                view = memoryview(chunk)
                for start in range(0, len(view), SEND_PIECE):
                    yield view[start:start + SEND_PIECE]
    finally:
        if pending.done():
            _close(chunks, pending)
        else:  # the client left while a read was running: close once it ends
            pending.add_done_callback(lambda task: _close(chunks, task))


def _close(chunks: Iterator[bytes], task: asyncio.Future[list[bytes]]) -> None:
    """Close the iterator (running its cleanup); a read error there was already answered."""
    if not task.cancelled():
        task.exception()  # retrieved, so asyncio does not log it as lost
    _close_unread(chunks)


def streamed(request: Request, chunks: Iterator[bytes], *, status_code: int = 200,
             media_type: str = "application/octet-stream",
             headers: dict[str, str] | None = None) -> Response:
    """A response sending `chunks` with one chunk read ahead; for HEAD, the headers only.

    A HEAD never reads the content (the iterator is closed unread), so it costs a lookup.
    """
    if request.method == "HEAD":
        _close_unread(chunks)
        response = Response(status_code=status_code, media_type=media_type, headers=headers)
        if headers is None or "content-length" not in headers:
            del response.headers["content-length"]  # unknown, e.g. a ZIP made on the fly
        return response
    return StreamingResponse(read_ahead(chunks), status_code=status_code,
                             media_type=media_type, headers=headers)


def _close_unread(chunks: Iterator[bytes]) -> None:
    """Close an iterator that will not be read further (a generator's cleanup runs)."""
    close = getattr(chunks, "close", None)
    if close is not None:
        close()
