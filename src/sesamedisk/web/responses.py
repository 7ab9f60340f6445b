"""Responses that stream file content: read-ahead of blocks and the download headers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from urllib.parse import quote

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from sesamedisk.ports.objects import BlockPieces

SEND_PIECE = 1024 * 1024
"""Largest write handed to the server: bigger ones send slower on uvloop (measured)."""


def content_disposition(name: str, *, inline: bool = False) -> str:
    """`attachment` (or `inline`) naming the file, with an ASCII fallback for old clients."""
    fallback = name.encode("ascii", "replace").decode().replace('"', "_").replace("?", "_")
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name)}"


READ_AHEAD_BYTES = 8 * 1024 * 1024
"""Chunks are read ahead in batches of at least this many bytes in memory (or to the end)."""

OPEN_AHEAD_BYTES = 32 * 1024 * 1024
"""A batch also ends once it spans this many bytes of blocks still in their files.

Opening a block asks the kernel to start reading it, and blocks are separate files the
kernel does not read ahead across, so a batch reaching further ahead keeps the disk busy
on a cold download while costing no memory (ADR 0011)."""

Chunk = bytes | BlockPieces
"""What a download sends: bytes, or a block to read piece by piece while sending."""


def _next_batch(chunks: Iterator[Chunk]) -> list[Chunk]:
    """The next chunks: `READ_AHEAD_BYTES` of them in memory or `OPEN_AHEAD_BYTES` in all.

    Blocks average 4 MiB, so batching halves the hand-offs between thread and event loop.
    If the iterator fails, the pieces already taken are closed before the error goes on.
    """
    batch: list[Chunk] = []
    held = spanned = 0
    try:
        while held < READ_AHEAD_BYTES and spanned < OPEN_AHEAD_BYTES:
            chunk = next(chunks, None)
            if chunk is None:
                break
            batch.append(chunk)
            if isinstance(chunk, bytes):
                held += len(chunk)
                spanned += len(chunk)
            else:
                held += chunk.held
                spanned += chunk.remaining
    except BaseException:
        _close_pieces(batch)
        raise
    return batch


async def read_ahead(chunks: Iterator[Chunk]) -> AsyncIterator[bytes | memoryview]:
    """Yield `chunks`, in pieces of at most `SEND_PIECE`, while a thread reads the next ones.

    Reading (and verifying) a block then overlaps sending the previous one, where a plain
    iteration would leave the socket idle during every read; 1 MiB writes are what the
    server sends fastest (docs/adr/0011-web-transfer-speed.md). At most one batch of chunks
    (`_next_batch`) is read ahead. A `BlockPieces` (a checked block still in its file) is
    opened by the thread and read here on the event loop one piece at a time while the
    piece is in memory, so it is sent while still in this core's cache; a piece that would
    wait for the disk is read with the rest of its block in a thread. Everything is closed
    at the end, also when the client goes away.
    """
    pending = asyncio.ensure_future(anyio.to_thread.run_sync(_next_batch, chunks))
    batch: list[Chunk] = []
    try:
        while batch := await pending:
            pending = asyncio.ensure_future(anyio.to_thread.run_sync(_next_batch, chunks))
            for chunk in batch:
                if isinstance(chunk, bytes):
                    for part in _send_pieces(chunk):
                        yield part
                    continue
                while chunk.remaining:
                    piece = chunk.read_ready(SEND_PIECE)
                    if piece is None:
                        piece = await anyio.to_thread.run_sync(chunk.read, chunk.remaining)
                    for part in _send_pieces(piece):
                        yield part
                chunk.close()
    finally:
        _close_pieces(batch)
        if pending.done():
            _close(chunks, pending)
        else:  # the client left while a read was running: close once it ends
            pending.add_done_callback(lambda task: _close(chunks, task))


def _send_pieces(data: bytes | memoryview) -> Iterator[bytes | memoryview]:
    """`data` in pieces of at most `SEND_PIECE` (itself when it is no longer)."""
    if len(data) <= SEND_PIECE:
        yield data
        return
    view = memoryview(data)
    for start in range(0, len(view), SEND_PIECE):
        yield view[start:start + SEND_PIECE]


class OneBlock(Iterator[Chunk]):
    """An iterator yielding one `BlockPieces`, closing it if the iterator is closed unread."""

    def __init__(self, block: BlockPieces) -> None:
        self._block: BlockPieces | None = block

    def __next__(self) -> Chunk:
        block, self._block = self._block, None
        if block is None:
            raise StopIteration
        return block

    def close(self) -> None:
        """Close the block if it was never handed out."""
        block, self._block = self._block, None
        if block is not None:
            block.close()


def _close_pieces(batch: list[Chunk]) -> None:
    """Close the `BlockPieces` among `batch` (closing twice is harmless)."""
    for chunk in batch:
        if not isinstance(chunk, bytes):
            chunk.close()


def _close(chunks: Iterator[Chunk], task: asyncio.Future[list[Chunk]]) -> None:
    """Close a read-ahead batch never sent and the iterator (a read error was answered)."""
    if not task.cancelled() and task.exception() is None:
        _close_pieces(task.result())
    _close_unread(chunks)


def streamed(request: Request, chunks: Iterator[Chunk], *, status_code: int = 200,
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


def _close_unread(chunks: Iterator[Chunk]) -> None:
    """Close an iterator that will not be read further (a generator's cleanup runs)."""
    close = getattr(chunks, "close", None)
    if close is not None:
        close()
