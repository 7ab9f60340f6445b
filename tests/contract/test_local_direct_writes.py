"""LocalObjectStore writes large objects around the page cache, and falls back when refused."""

from __future__ import annotations

import errno
import fcntl
import os
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from sesamedisk.adapters.objects.direct_write import (
    ALIGNMENT,
    DIRECT_MIN_BYTES,
    IDLE_BUFFERS,
    O_DIRECT,
    STAGING_BYTES,
    DirectWrites,
)
from sesamedisk.adapters.objects.local import LocalObjectStore
from sesamedisk.errors import Unavailable
from tests.contract.local_support import BLOCK, SCOPE, sha1, temp_files

SIZES = [0, 1, ALIGNMENT - 1, ALIGNMENT, ALIGNMENT + 1, DIRECT_MIN_BYTES - 1, DIRECT_MIN_BYTES,
         DIRECT_MIN_BYTES + 1, STAGING_BYTES - 1, STAGING_BYTES, STAGING_BYTES + 1,
         2 * STAGING_BYTES + ALIGNMENT + 17]


def _put(store: LocalObjectStore, data: bytes) -> Path:
    object_id = sha1(data)
    store.put(BLOCK, SCOPE, object_id, data)
    return store.root / SCOPE / BLOCK.value / object_id[:2] / object_id[2:]


def _cached_bytes(path: Path) -> int:
    """Bytes of `path` in the page cache, as util-linux's fincore reports them."""
    out = subprocess.run(["fincore", "--bytes", "--noheadings", "--output", "RES", str(path)],
                         check=True, capture_output=True, text=True).stdout
    return int(out.strip())


@pytest.mark.parametrize("size", SIZES)
def test_objects_of_every_size_read_back_exactly(tmp_path: Path, size: int) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    data = os.urandom(size)
    path = _put(store, data)
    assert path.stat().st_size == size
    assert store.get(BLOCK, SCOPE, sha1(data)) == data
    assert store.direct_writes
    assert temp_files(store.root) == []


def test_large_objects_bypass_the_page_cache(tmp_path: Path) -> None:
    data = os.urandom(3 * STAGING_BYTES // 2 + 123)
    direct = _put(LocalObjectStore(tmp_path / "direct"), data)
    buffered = _put(LocalObjectStore(tmp_path / "buffered", direct_writes=False), data)
    small = _put(LocalObjectStore(tmp_path / "small"), data[:DIRECT_MIN_BYTES - 1])
    assert _cached_bytes(buffered) >= len(data), "a buffered write stays in the page cache"
    assert _cached_bytes(direct) == 0
    assert _cached_bytes(small) > 0, "small objects still go through the page cache"
    assert direct.read_bytes() == buffered.read_bytes() == data


def _refusing_open(real: Callable[..., int]) -> Callable[..., int]:
    """os.open as on a file system without O_DIRECT: the file is created, then EINVAL."""
    def fake_open(path: str, flags: int, mode: int = 0o777, **kwargs: object) -> int:
        if flags & O_DIRECT:
            os.close(real(path, flags & ~O_DIRECT, mode, **kwargs))
            raise OSError(errno.EINVAL, "Invalid argument")
        return real(path, flags, mode, **kwargs)
    return fake_open


def test_a_file_system_refusing_o_direct_gets_buffered_writes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    monkeypatch.setattr(os, "open", _refusing_open(os.open))
    data = os.urandom(STAGING_BYTES + 5)
    path = _put(store, data)
    assert not store.direct_writes
    assert path.read_bytes() == data
    assert _put(store, data[:-1]).read_bytes() == data[:-1]
    assert temp_files(store.root) == []


Write = Callable[[int, memoryview], int]


def _flaky_direct_write(real: Write, *, after: int, fault: Write) -> Write:
    """os.write that calls `fault` for the O_DIRECT writes after the first `after` ones."""
    seen = [0]

    def fake_write(fd: int, data: memoryview) -> int:
        if fcntl.fcntl(fd, fcntl.F_GETFL) & O_DIRECT:
            seen[0] += 1
            if seen[0] > after:
                return fault(fd, memoryview(data))
        return real(fd, data)
    return fake_write


def _raising(code: int) -> Write:
    """A write fault raising OSError `code`."""
    def fault(fd: int, data: memoryview) -> int:
        raise OSError(code, os.strerror(code))
    return fault


def _inject(monkeypatch: pytest.MonkeyPatch, *, after: int, fault: Write) -> None:
    monkeypatch.setattr(os, "write", _flaky_direct_write(os.write, after=after, fault=fault))


def test_a_refusal_part_way_finishes_through_the_page_cache(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    _inject(monkeypatch, after=1, fault=_raising(errno.EINVAL))
    data = os.urandom(2 * STAGING_BYTES + 77)
    assert _put(store, data).read_bytes() == data
    assert not store.direct_writes


def test_a_short_direct_write_is_completed(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    real_write = os.write
    _inject(monkeypatch, after=0, fault=lambda fd, data: real_write(fd, data[:3 * ALIGNMENT]))
    data = os.urandom(STAGING_BYTES + 999)
    path = _put(store, data)
    assert path.read_bytes() == data
    assert path.stat().st_size == len(data)


def test_a_full_disk_is_reported_and_leaves_no_temp_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    _inject(monkeypatch, after=1, fault=_raising(errno.ENOSPC))
    data = os.urandom(2 * STAGING_BYTES)
    with pytest.raises(Unavailable, match="storage is full"):
        _put(store, data)
    assert store.direct_writes, "a full disk is not a refusal of O_DIRECT"
    assert temp_files(store.root) == []
    assert not store.exists(BLOCK, SCOPE, sha1(data))


def test_staging_buffers_are_reused_and_the_idle_pool_is_bounded() -> None:
    pool = DirectWrites()
    first = pool.take_buffer()
    pool.give_back(first)
    assert pool.take_buffer() is first, "a returned buffer is lent again"
    burst = [first, *(pool.take_buffer() for _ in range(IDLE_BUFFERS + 3))]
    assert len({id(buffer) for buffer in burst}) == len(burst)
    for buffer in burst:
        pool.give_back(buffer)
    assert pool.idle_buffers == IDLE_BUFFERS
    assert sum(buffer.closed for buffer in burst) == len(burst) - IDLE_BUFFERS


def test_concurrent_puts_each_get_their_own_staging_buffer(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    blobs = [os.urandom(STAGING_BYTES + n) for n in range(6)]
    with ThreadPoolExecutor(6) as workers:
        paths = list(workers.map(lambda blob: _put(store, blob), blobs))
    assert [path.read_bytes() for path in paths] == blobs
