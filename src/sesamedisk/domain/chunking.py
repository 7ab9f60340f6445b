"""Streaming content-defined chunking (FastCDC 2020) for files the server writes itself.

Seafile clients cut their own blocks; the server only chunks web/API uploads, so the
parameters are ours to choose (block ids are content hashes either way). Boundaries depend only
on the content, never on how the input arrives in pieces, and memory stays bounded by twice
the maximum chunk size whatever the input size.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Final

from pyfastcdc import FastCDC

if not FastCDC.__module__.startswith("pyfastcdc.cy"):  # pragma: no cover - a broken wheel
    raise ImportError("sesamedisk needs pyfastcdc's compiled module (pyfastcdc.cy); the "
                      "pure-Python fallback is about 200 times slower")

MIB = 1024 * 1024
MIN_SIZE = 1 * MIB
AVG_SIZE = 4 * MIB
MAX_SIZE = 8 * MIB
NORMALIZATION: Final = 2
"""FastCDC 2020's normalized chunking level: few chunks near the minimum or the maximum."""
# Limits of the pyfastcdc implementation (it raises ValueError outside them).
_LIMITS = {"min_size": (64, 1 * MIB), "avg_size": (256, 4 * MIB),
           "max_size": (1024, 16 * MIB)}


def _check(min_size: int, avg_size: int, max_size: int) -> None:
    for what, value in (("min_size", min_size), ("avg_size", avg_size),
                        ("max_size", max_size)):
        low, high = _LIMITS[what]
        if not low <= value <= high:
            raise ValueError(f"{what} must be between {low} and {high}, not {value}")
    if not min_size <= avg_size <= max_size:
        raise ValueError("chunk sizes must satisfy min_size <= avg_size <= max_size")


def cutter(min_size: int = MIN_SIZE, avg_size: int = AVG_SIZE,
           max_size: int = MAX_SIZE) -> FastCDC:
    """The compiled FastCDC 2020 cutter with these sizes (scans without holding the GIL)."""
    _check(min_size, avg_size, max_size)
    return FastCDC(avg_size, min_size=min_size, max_size=max_size,
                   normalized_chunking=NORMALIZATION)


class StreamChunker:
    """Push-style chunker: `feed` pieces of any size, then `finish`; both yield chunks.

    Usable from async code (feed each received piece). Each generator must be consumed before
    the next call. The chunker holds at most `2 * max_size` bytes, copied into one buffer that
    is allocated once; chunks are returned as new `bytes` objects.
    """

    def __init__(self, min_size: int = MIN_SIZE, avg_size: int = AVG_SIZE,
                 max_size: int = MAX_SIZE) -> None:
        self._cutter = cutter(min_size, avg_size, max_size)
        self.max_size = max_size
        self._capacity = 2 * max_size
        self._buffer: bytearray | None = None
        self._filled = 0
        self._finished = False

    @property
    def buffered(self) -> int:
        """Bytes held and not yet returned as chunks."""
        return self._filled

    @property
    def capacity(self) -> int:
        """Size of the internal buffer: the most the chunker ever holds."""
        return self._capacity

    def feed(self, piece: bytes | bytearray | memoryview) -> Iterator[bytes]:
        """Take `piece` and yield every chunk whose end is now certain."""
        if self._finished:
            raise ValueError("feed() after finish()")
        source = memoryview(piece).cast("B")
        if self._buffer is None and len(source):
            self._buffer = bytearray(self._capacity)
        taken = 0
        while taken < len(source):
            assert self._buffer is not None
            count = min(self._capacity - self._filled, len(source) - taken)
            self._buffer[self._filled:self._filled + count] = source[taken:taken + count]
            self._filled += count
            taken += count
            if self._filled == self._capacity:
                yield from self._cut(final=False)

    def finish(self) -> Iterator[bytes]:
        """Yield the remaining chunks; the last one may be shorter than `min_size`."""
        self._finished = True
        yield from self._cut(final=True)
        self._buffer = None

    def _cut(self, *, final: bool) -> Iterator[bytes]:
        if not self._filled or self._buffer is None:
            return
        view = memoryview(self._buffer)
        filled = self._filled
        start = 0
        for chunk in self._cutter.cut_buf(view[:filled]):
            end = chunk.offset + chunk.length
            # A chunk cut at the end of the buffer, short of max_size, may grow once more data
            # arrives: keep it for the next round.
            if end == filled and not final and chunk.length < self.max_size:
                break
            yield bytes(view[start:end])
            start = end
        tail = filled - start
        if start and tail:
            view[:tail] = view[start:filled]
        self._filled = tail

def chunk_stream(pieces: Iterable[bytes | bytearray | memoryview], *, min_size: int = MIN_SIZE,
                 avg_size: int = AVG_SIZE, max_size: int = MAX_SIZE) -> Iterator[bytes]:
    """Cut the concatenation of `pieces` into content-defined chunks, streaming."""
    chunker = StreamChunker(min_size, avg_size, max_size)
    for piece in pieces:
        yield from chunker.feed(piece)
    yield from chunker.finish()


def chunk_bytes(data: bytes | bytearray | memoryview, *, min_size: int = MIN_SIZE,
                avg_size: int = AVG_SIZE, max_size: int = MAX_SIZE) -> Iterator[bytes]:
    """Chunks of a buffer already in memory (same boundaries as `chunk_stream`)."""
    return chunk_stream((data,), min_size=min_size, avg_size=avg_size, max_size=max_size)
