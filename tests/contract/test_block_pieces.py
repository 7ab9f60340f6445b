"""Block pieces: a checked block read piece by piece, from its file or from memory."""

from __future__ import annotations

import errno
import hashlib
import os
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sesamedisk.adapters.objects import block_pieces
from sesamedisk.adapters.objects.local import LocalObjectStore
from sesamedisk.adapters.objects.memory import MemoryObjectStore
from sesamedisk.adapters.objects.verifying import VerifyingObjectStore
from sesamedisk.errors import Corrupted, ObjectNotFound
from sesamedisk.ports.objects import BlockPieces, ObjectKind, PieceReads

SCOPE = "2b4d6f80-1a3c-4e5f-8a9b-0c1d2e3f4a5b"
BLOCK_BYTES = 3 * 1024 * 1024 + 12345
PIECE = 1024 * 1024


def _store(root: Path) -> VerifyingObjectStore:
    return VerifyingObjectStore(LocalObjectStore(root, direct_writes=False))


def _put(store: VerifyingObjectStore, data: bytes) -> str:
    return store.put_block(SCOPE, data)


def _file_of(root: Path, block_id: str) -> Path:
    return root / SCOPE / ObjectKind.BLOCK.value / block_id[:2] / block_id[2:]


def _drain(pieces: BlockPieces, *, ready: bool = True) -> bytes:
    """Everything left, read as a sender does: ready pieces first, else a waiting read."""
    out = bytearray()
    try:
        while pieces.remaining:
            piece = pieces.read_ready(PIECE) if ready else None
            out += piece if piece is not None else pieces.read(PIECE)
    finally:
        pieces.close()
    return bytes(out)


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture
def stored(tmp_path: Path) -> tuple[VerifyingObjectStore, Path, bytes, str]:
    store = _store(tmp_path)
    data = os.urandom(BLOCK_BYTES)
    return store, tmp_path, data, _put(store, data)


def test_the_verifying_local_store_offers_pieces(
        stored: tuple[VerifyingObjectStore, Path, bytes, str]) -> None:
    store, _, _, _ = stored
    assert isinstance(store, PieceReads)


def test_a_block_checked_at_its_put_is_read_from_its_file(
        stored: tuple[VerifyingObjectStore, Path, bytes, str]) -> None:
    store, _, data, block_id = stored
    fds = _open_fds()
    pieces = store.open_block_pieces(SCOPE, block_id)
    assert (pieces.size, pieces.remaining, pieces.held) == (len(data), len(data), 0)
    assert _drain(pieces) == data
    assert _open_fds() == fds, "closing the pieces closes the file"


def test_a_block_not_checked_before_is_hashed_whole_and_then_read_from_its_file(
        tmp_path: Path) -> None:
    data = os.urandom(BLOCK_BYTES)
    _put(_store(tmp_path), data)  # another process stored it
    store = _store(tmp_path)
    block_id = hashlib.sha1(data).hexdigest()
    first = store.open_block_pieces(SCOPE, block_id)
    assert first.held == len(data), "read and hashed now"
    assert _drain(first) == data
    second = store.open_block_pieces(SCOPE, block_id)
    assert second.held == 0, "remembered as checked: read later, from the file"
    assert _drain(second) == data


@settings(max_examples=60, deadline=None)
@given(start=st.integers(-10, BLOCK_BYTES + 10), end=st.none() | st.integers(-10, BLOCK_BYTES + 10),
       ready=st.booleans())
def test_any_window_yields_exactly_those_bytes(start: int, end: int | None, ready: bool) -> None:
    with tempfile.TemporaryDirectory() as folder:
        store = _store(Path(folder))
        data = bytes(range(256)) * (BLOCK_BYTES // 256) + b"tail"
        block_id = _put(store, data)
        expected = data[max(start, 0):end if end is None else max(end, 0)]
        if end is not None and end < start:
            expected = b""
        for pieces in (store.open_block_pieces(SCOPE, block_id, start, end),  # from the file
                       block_pieces.MemoryPieces(data, start, end)):
            assert pieces.remaining == len(expected)
            assert _drain(pieces, ready=ready) == expected


def test_a_block_changed_on_disk_is_hashed_again_and_refused(
        stored: tuple[VerifyingObjectStore, Path, bytes, str]) -> None:
    store, root, data, block_id = stored
    path = _file_of(root, block_id)
    path.write_bytes(b"X" + data[1:])  # same size, new mtime: a new stamp
    past = time.time_ns() - 5_000_000_000
    os.utime(path, ns=(past, past))
    with pytest.raises(Corrupted, match="does not match its id"):
        store.open_block_pieces(SCOPE, block_id)


def test_a_block_cut_short_while_it_is_read_is_corrupted(
        stored: tuple[VerifyingObjectStore, Path, bytes, str]) -> None:
    store, root, _, block_id = stored
    pieces = store.open_block_pieces(SCOPE, block_id)
    os.truncate(_file_of(root, block_id), PIECE)
    assert pieces.read_ready(PIECE) is not None or pieces.read(PIECE)
    with pytest.raises(Corrupted, match="shorter than its size"):
        _drain(pieces)


def test_a_missing_block_is_not_found(tmp_path: Path) -> None:
    store = _store(tmp_path)
    with pytest.raises(ObjectNotFound):
        store.open_block_pieces(SCOPE, "0" * 40)


def test_a_read_that_would_wait_answers_none_and_a_waiting_read_still_delivers(
        stored: tuple[VerifyingObjectStore, Path, bytes, str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    store, _, data, block_id = stored

    def would_block(*_: object) -> int:
        raise BlockingIOError(errno.EAGAIN, "would block")

    monkeypatch.setattr(os, "preadv", would_block)
    pieces = store.open_block_pieces(SCOPE, block_id)
    assert pieces.read_ready(PIECE) is None
    assert pieces.remaining == len(data), "nothing consumed"
    assert _drain(pieces, ready=False) == data


def test_a_file_system_without_nowait_reads_is_asked_only_once(
        stored: tuple[VerifyingObjectStore, Path, bytes, str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    store, _, data, block_id = stored
    calls: list[int] = []

    def refused(*_: object) -> int:
        calls.append(1)
        raise OSError(errno.EOPNOTSUPP, "Operation not supported")

    monkeypatch.setattr(os, "preadv", refused)
    pieces = store.open_block_pieces(SCOPE, block_id)
    assert pieces.read_ready(PIECE) is None
    assert pieces.read_ready(PIECE) is None
    assert calls == [1]
    assert _drain(pieces) == data


def test_closing_twice_is_harmless_and_a_dropped_reader_closes_its_file(
        stored: tuple[VerifyingObjectStore, Path, bytes, str]) -> None:
    store, _, _, block_id = stored
    fds = _open_fds()
    pieces = store.open_block_pieces(SCOPE, block_id)
    assert _open_fds() == fds + 1
    pieces.close()
    pieces.close()
    assert _open_fds() == fds
    store.open_block_pieces(SCOPE, block_id)  # never read, never closed
    assert _open_fds() == fds


def test_a_store_without_files_hands_out_checked_memory(tmp_path: Path) -> None:
    store = VerifyingObjectStore(MemoryObjectStore())
    data = os.urandom(5000)
    block_id = store.put_block(SCOPE, data)
    pieces = store.open_block_pieces(SCOPE, block_id, 100, 4100)
    assert (pieces.size, pieces.held) == (5000, 4000)
    assert _drain(pieces) == data[100:4100]
