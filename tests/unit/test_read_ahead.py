"""read_ahead: every chunk in order, one batch read ahead, the iterator closed however it ends."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import anyio
import pytest

from sesamedisk.web import responses
from sesamedisk.web.responses import SEND_PIECE, content_disposition, read_ahead


class Source:
    """Chunks produced on demand, recording reads, the reading threads and the close."""

    def __init__(self, count: int, fail_at: int | None = None) -> None:
        self.count = count
        self.fail_at = fail_at
        self.read = 0
        self.closed = threading.Event()
        self.threads: set[int] = set()

    def chunks(self) -> Iterator[bytes]:
        try:
            for index in range(self.count):
                self.threads.add(threading.get_ident())
                if index == self.fail_at:
                    raise OSError("block unreadable")
                self.read += 1
                yield b"%d" % index
        finally:
            self.closed.set()


@pytest.fixture
def one_chunk_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Batches of one chunk each (every chunk here is at least one byte)."""
    monkeypatch.setattr(responses, "READ_AHEAD_BYTES", 1)


def test_all_chunks_in_order_read_off_the_event_loop() -> None:
    source = Source(20)

    async def main() -> list[bytes]:
        return [chunk async for chunk in read_ahead(source.chunks())]

    assert anyio.run(main) == [b"%d" % i for i in range(20)]
    assert threading.get_ident() not in source.threads
    assert source.closed.is_set()


@pytest.mark.usefixtures("one_chunk_batches")
def test_one_chunk_is_read_ahead_of_the_consumer() -> None:
    source = Source(10)

    async def main() -> list[int]:
        seen = []
        async for _ in read_ahead(source.chunks()):
            await anyio.sleep(0.01)  # the next read finishes meanwhile
            seen.append(source.read)
        return seen

    seen = anyio.run(main)
    assert seen[:5] == [2, 3, 4, 5, 6]


@pytest.mark.usefixtures("one_chunk_batches")
def test_a_consumer_that_stops_early_closes_the_iterator() -> None:
    source = Source(100)

    async def main() -> None:
        stream = read_ahead(source.chunks())
        async for chunk in stream:
            if chunk == b"3":
                break
        await stream.aclose()

    anyio.run(main)
    assert source.closed.wait(5)
    assert source.read < 10


def test_a_read_error_reaches_the_consumer() -> None:
    source = Source(10, fail_at=4)

    async def main() -> list[bytes]:
        return [chunk async for chunk in read_ahead(source.chunks())]

    with pytest.raises(OSError, match="block unreadable"):
        anyio.run(main)
    assert source.closed.is_set()


def test_small_chunks_are_read_ahead_in_batches_of_read_ahead_bytes(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(responses, "READ_AHEAD_BYTES", 4)  # chunks "0".."9": 4 per batch
    source = Source(10)

    async def main() -> list[tuple[bytes, int]]:
        seen = []
        async for chunk in read_ahead(source.chunks()):
            await anyio.sleep(0.01)  # the read ahead finishes meanwhile
            seen.append((bytes(chunk), source.read))
        return seen

    seen = anyio.run(main)
    assert [chunk for chunk, _ in seen] == [b"%d" % i for i in range(10)]
    # While the first batch (0-3) is sent, the second (4-7) is read, never more.
    assert [read for _, read in seen[:4]] == [8, 8, 8, 8]
    assert [read for _, read in seen[4:8]] == [10, 10, 10, 10]


def test_content_disposition_has_an_ascii_fallback_and_the_utf8_name() -> None:
    assert content_disposition('Bericht "März".pdf') == (
        "attachment; filename=\"Bericht _M_rz_.pdf\"; "
        "filename*=UTF-8''Bericht%20%22M%C3%A4rz%22.pdf")
    assert content_disposition("a.png", inline=True).startswith('inline; filename="a.png"')


def test_big_chunks_are_sent_in_pieces_of_at_most_one_mib() -> None:
    big = bytes(range(256)) * (3 * 4096 + 17)  # a little over 3 MiB

    async def main() -> list[bytes]:
        return [bytes(piece) async for piece in read_ahead(iter([big, b"tail"]))]

    pieces = anyio.run(main)
    assert max(len(p) for p in pieces) <= SEND_PIECE
    assert len(pieces) == 5
    assert b"".join(pieces) == big + b"tail"


class FakePieces:
    """A block's bytes as `BlockPieces`; pieces in `cold` would wait for the disk."""

    def __init__(self, data: bytes, *, cold: frozenset[int] = frozenset(),
                 in_memory: bool = False) -> None:
        self.data = data
        self.position = 0
        self.cold = cold
        self.in_memory = in_memory
        self.closed = 0
        self.waiting_reads: list[int] = []

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def remaining(self) -> int:
        return len(self.data) - self.position

    @property
    def held(self) -> int:
        return self.remaining if self.in_memory else 0

    def _take(self, limit: int) -> bytes:
        piece = self.data[self.position:self.position + limit]
        self.position += len(piece)
        return piece

    def read_ready(self, limit: int) -> bytes | None:
        if self.position // SEND_PIECE in self.cold:
            return None
        return self._take(limit)

    def read(self, limit: int) -> bytes:
        self.waiting_reads.append(threading.get_ident())
        return self._take(limit)

    def close(self) -> None:
        self.closed += 1


def test_block_pieces_are_sent_piece_by_piece_and_cold_ones_read_in_a_thread() -> None:
    warm = FakePieces(bytes(range(256)) * 9000)  # about 2.2 MiB
    cold = FakePieces(b"c" * (3 * SEND_PIECE + 5), cold=frozenset({1}))

    async def main() -> tuple[list[bytes], int]:
        sent = [bytes(p) async for p in read_ahead(iter([b"head", warm, cold, b"tail"]))]
        return sent, threading.get_ident()

    sent, loop_thread = anyio.run(main)
    assert b"".join(sent) == b"head" + warm.data + cold.data + b"tail"
    assert max(len(p) for p in sent) <= SEND_PIECE
    assert warm.waiting_reads == [], "pieces in memory are read on the event loop"
    assert len(cold.waiting_reads) == 1, "the rest of a cold block is read in one go"
    assert loop_thread not in cold.waiting_reads
    assert (warm.closed, cold.closed) >= (1, 1)


def test_a_client_leaving_closes_the_pieces_sent_and_read_ahead(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(responses, "OPEN_AHEAD_BYTES", 2 * SEND_PIECE)
    blocks = [FakePieces(b"%d" % i * SEND_PIECE) for i in range(8)]

    async def main() -> None:
        stream = read_ahead(iter(blocks))
        async for _ in stream:
            await anyio.sleep(0.01)  # the next batch is opened meanwhile
            break
        await stream.aclose()

    anyio.run(main)
    opened = [block for block in blocks if block.closed or block.position]
    assert 2 <= len(opened) < 8, "a batch spans OPEN_AHEAD_BYTES of blocks, not all"
    for _ in range(100):  # the pending batch is closed once its read ends
        if all(block.closed for block in blocks[:4]):
            break
        time.sleep(0.01)
    assert all(block.closed for block in blocks[:4])
    assert not any(block.closed for block in blocks[4:]), "never opened, nothing to close"


def test_an_iterator_failing_after_some_pieces_closes_them() -> None:
    taken = [FakePieces(b"x" * 10), FakePieces(b"y" * 10)]

    def chunks() -> Iterator[responses.Chunk]:
        yield from taken
        raise OSError("block unreadable")

    async def main() -> list[bytes]:
        return [bytes(p) async for p in read_ahead(chunks())]

    with pytest.raises(OSError, match="block unreadable"):
        anyio.run(main)
    assert all(block.closed for block in taken)


def test_a_batch_holds_read_ahead_bytes_in_memory_but_spans_further_in_files(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(responses, "READ_AHEAD_BYTES", 100)
    monkeypatch.setattr(responses, "OPEN_AHEAD_BYTES", 1000)
    in_files = iter([FakePieces(b"f" * 300) for _ in range(5)])
    assert len(responses._next_batch(in_files)) == 4  # 1200 bytes spanned, none held
    in_memory = iter([FakePieces(b"m" * 60, in_memory=True) for _ in range(5)])
    assert len(responses._next_batch(in_memory)) == 2  # 120 bytes held
    assert len(responses._next_batch(iter([b"b" * 60, b"b" * 60, b"b"]))) == 2
