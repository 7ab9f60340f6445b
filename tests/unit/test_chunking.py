"""Streaming FastCDC 2020: split independence, size bounds, bounded memory."""

from __future__ import annotations

import hashlib
import itertools
import os
import random
import sys
import tracemalloc
from collections.abc import Iterator

import pyfastcdc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sesamedisk.domain import chunking

SMALL = {"min_size": 64, "avg_size": 256, "max_size": 1024}


def oracle(data: bytes, min_size: int, avg_size: int, max_size: int) -> list[bytes]:
    """Chunks of the whole buffer at once, straight from the library."""
    cutter = pyfastcdc.FastCDC(avg_size, min_size=min_size, max_size=max_size,
                                  normalized_chunking=2)
    return [data[c.offset:c.offset + c.length] for c in cutter.cut_buf(data)]


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(c, len(data)) for c in cuts})
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


@st.composite
def contents(draw: st.DrawFn) -> bytes:
    """Random and highly repetitive stretches (the latter force max-size cuts)."""
    parts = draw(st.lists(st.one_of(
        st.binary(max_size=3000),
        st.builds(lambda b, n: b * n, st.binary(min_size=1, max_size=3),
                  st.integers(min_value=1, max_value=1500)),
        st.builds(os.urandom, st.integers(min_value=0, max_value=5000)),
    ), max_size=6))
    return b"".join(parts)


def test_compiled_fastcdc_is_used() -> None:
    assert type(chunking.cutter()) is pyfastcdc.FastCDC
    assert pyfastcdc.FastCDC.__module__ == "pyfastcdc.cy.fastcdc"
    assert str(sys.modules["pyfastcdc.cy.fastcdc"].__file__).endswith(".so")


def test_default_parameters() -> None:
    assert (chunking.MIN_SIZE, chunking.AVG_SIZE, chunking.MAX_SIZE) == (
        1024 * 1024, 4 * 1024 * 1024, 8 * 1024 * 1024)
    assert chunking.NORMALIZATION == 2
    chunker = chunking.StreamChunker()
    assert chunker.capacity == 2 * chunking.MAX_SIZE


@settings(max_examples=300, deadline=None)
@given(contents(), st.lists(st.integers(min_value=0, max_value=30_000), max_size=12),
       st.lists(st.integers(min_value=0, max_value=30_000), max_size=12))
def test_boundaries_do_not_depend_on_the_split(data: bytes, cuts_a: list[int],
                                              cuts_b: list[int]) -> None:
    expected = oracle(data, **SMALL)
    a = list(chunking.chunk_stream(split(data, cuts_a), **SMALL))
    b = list(chunking.chunk_stream(split(data, cuts_b), **SMALL))
    assert a == expected
    assert b == expected
    assert b"".join(a) == data
    for chunk in a[:-1]:
        assert SMALL["min_size"] <= len(chunk) <= SMALL["max_size"]
    if a:
        assert 0 < len(a[-1]) <= SMALL["max_size"]


@given(contents())
def test_byte_by_byte_and_memoryview_pieces(data: bytes) -> None:
    pieces = [memoryview(bytearray(data[i:i + 1])) for i in range(min(len(data), 2500))]
    pieces.append(memoryview(data)[2500:])
    assert list(chunking.chunk_stream(pieces, **SMALL)) == oracle(data, **SMALL)


def test_defaults_on_a_large_input() -> None:
    data = random.Random(7).randbytes(40 * 1024 * 1024)
    pieces = split(data, list(range(0, len(data), 3_000_017)))
    chunks = list(chunking.chunk_stream(pieces))
    assert chunks == oracle(data, chunking.MIN_SIZE, chunking.AVG_SIZE, chunking.MAX_SIZE)
    assert len(chunks) >= 5
    for chunk in chunks[:-1]:
        assert chunking.MIN_SIZE <= len(chunk) <= chunking.MAX_SIZE


def test_edits_only_change_nearby_chunks() -> None:
    data = random.Random(1).randbytes(200_000)
    before = {hashlib.sha1(c).digest() for c in chunking.chunk_bytes(data, **SMALL)}
    edited = data[:100_000] + b"inserted!" + data[100_000:]
    after = [hashlib.sha1(c).digest() for c in chunking.chunk_bytes(edited, **SMALL)]
    assert sum(h not in before for h in after) <= 4


def test_chunker_buffer_stays_bounded() -> None:
    chunker = chunking.StreamChunker(**SMALL)
    limit = 2 * SMALL["max_size"]
    assert chunker.capacity == limit
    data = random.Random(3).randbytes(50 * SMALL["max_size"]) + bytes(20 * SMALL["max_size"])
    seen = 0

    def watched(pieces: list[bytes]) -> Iterator[bytes]:
        for piece in pieces:
            assert chunker.buffered <= limit
            yield piece

    out = []
    for piece in watched([data[:10], data[10:len(data) // 2], data[len(data) // 2:]]):
        for chunk in chunker.feed(piece):
            seen = max(seen, chunker.buffered)
            assert chunker.buffered <= limit
            out.append(chunk)
    out.extend(chunker.finish())
    assert chunker.buffered == 0
    assert out == oracle(data, **SMALL)
    assert seen > SMALL["max_size"], "the instrumentation must observe a full buffer"


def test_peak_memory_is_bounded_by_the_chunk_size() -> None:
    params = {"min_size": 64 * 1024, "avg_size": 256 * 1024, "max_size": 1024 * 1024}
    piece_size = 256 * 1024
    total = 64 * 1024 * 1024
    seed = os.urandom(piece_size)

    def pieces() -> Iterator[bytes]:
        for i in range(total // piece_size):
            yield hashlib.sha256(i.to_bytes(8, "big")).digest() + seed[32:]

    tracemalloc.start()
    try:
        size = sum(len(c) for c in chunking.chunk_stream(pieces(), **params))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert size == total
    # buffer (2 x max) + the chunk being built + the one the consumer still holds + a piece
    assert peak < 5 * params["max_size"] < total // 10


def test_empty_input_and_empty_pieces() -> None:
    assert list(chunking.chunk_stream([])) == []
    assert list(chunking.chunk_stream([b"", b""], **SMALL)) == []
    assert list(chunking.chunk_stream([b"", b"abc", b""], **SMALL)) == [b"abc"]
    assert list(chunking.chunk_bytes(b"")) == []


def test_feed_after_finish_is_an_error() -> None:
    chunker = chunking.StreamChunker(**SMALL)
    list(chunker.feed(b"x" * 100))
    assert list(chunker.finish()) == [b"x" * 100]
    with pytest.raises(ValueError, match="finish"):
        list(chunker.feed(b"y"))


@pytest.mark.parametrize(("min_size", "avg_size", "max_size"), [
    (32, 256, 1024), (64, 128, 1024), (64, 256, 512), (512, 256, 1024), (64, 2048, 1024),
    (64, 256, 32 * 1024 * 1024), (2 * 1024 * 1024, 4 * 1024 * 1024, 8 * 1024 * 1024),
])
def test_invalid_parameters(min_size: int, avg_size: int, max_size: int) -> None:
    with pytest.raises(ValueError, match="size"):
        chunking.StreamChunker(min_size, avg_size, max_size)
