"""LocalObjectStore under crashes, full disks, races and hostile keys."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import sesamedisk
from sesamedisk.adapters.objects.direct_write import STAGING_BYTES
from sesamedisk.adapters.objects.local import TEMP_PREFIX, LocalObjectStore
from sesamedisk.errors import InvalidRequest, ObjectNotFound, Unavailable
from sesamedisk.ports.objects import ObjectKind
from tests.contract.local_support import BLOCK, SCOPE, sha1, temp_files

SRC_DIR = str(Path(sesamedisk.__file__).resolve().parents[1])


def all_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


@pytest.fixture
def store(tmp_path: Path) -> LocalObjectStore:
    return LocalObjectStore(tmp_path / "objects")


def spawn(script: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": SRC_DIR + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(script), *args],
                            stdout=subprocess.PIPE, text=True, env=env)


def wait_for_line(child: subprocess.Popen[str], expected: str) -> None:
    assert child.stdout is not None
    line = child.stdout.readline().strip()
    assert line == expected, f"child said {line!r}, exit code {child.poll()}"


def kill(child: subprocess.Popen[str]) -> None:
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    assert child.stdout is not None
    child.stdout.close()
    assert child.returncode == -signal.SIGKILL


# --- crashes ----------------------------------------------------------------------------

STALL_SCRIPT = """
    import os, sys, time
    from sesamedisk.adapters.objects.local import LocalObjectStore
    from sesamedisk.ports.objects import ObjectKind

    root, scope, object_id, hook = sys.argv[1:5]
    real = getattr(os, hook)

    def stall(*args):
        if hook == "write":  # half the bytes reach the temp file, then the process hangs
            fd, data = args
            real(fd, bytes(data[: len(data) // 2]))
        elif hook == "fsync":  # all bytes written and fsynced, not yet published
            real(*args)
        print("stalled", flush=True)
        time.sleep(600)

    setattr(os, hook, stall)
    LocalObjectStore(root).put(ObjectKind.BLOCK, scope, object_id, b"x" * 1_000_000)
"""


@pytest.mark.parametrize("hook", ["write", "fsync", "link"])
def test_kill_during_put_leaves_nothing_visible(store: LocalObjectStore, hook: str) -> None:
    data = b"x" * 1_000_000
    object_id = sha1(data)
    child = spawn(STALL_SCRIPT, str(store.root), SCOPE, object_id, hook)
    wait_for_line(child, "stalled")
    kill(child)

    assert not store.exists(BLOCK, SCOPE, object_id)
    with pytest.raises(ObjectNotFound):
        store.get(BLOCK, SCOPE, object_id)
    assert list(store.iter_ids(BLOCK, SCOPE)) == []
    assert list(store.iter_scopes()) == []
    assert len(temp_files(store.root)) == 1

    assert store.sweep_temp(older_than_seconds=3600) == 0  # too young: may be in flight
    assert store.sweep_temp(older_than_seconds=0) == 1
    assert temp_files(store.root) == []
    store.put(BLOCK, SCOPE, object_id, data)
    assert store.get(BLOCK, SCOPE, object_id) == data


STORM_SCRIPT = """
    import hashlib, os, sys
    from sesamedisk.adapters.objects.local import LocalObjectStore
    from sesamedisk.ports.objects import ObjectKind

    store = LocalObjectStore(sys.argv[1])
    scope = sys.argv[2]
    for i in range(1_000_000):
        data = os.urandom(64 * 1024 * (1 + i % 16))
        store.put(ObjectKind.BLOCK, scope, hashlib.sha1(data).hexdigest(), data)
        if i == 5:
            print("running", flush=True)
"""


@pytest.mark.parametrize("delay", [0.0, 0.013, 0.05, 0.11])
def test_kill_among_many_puts_leaves_only_whole_objects(store: LocalObjectStore,
                                                        delay: float) -> None:
    child = spawn(STORM_SCRIPT, str(store.root), SCOPE)
    wait_for_line(child, "running")
    time.sleep(delay)
    kill(child)

    ids = list(store.iter_ids(BLOCK, SCOPE))
    assert len(ids) >= 6
    for object_id in ids:
        assert sha1(store.get(BLOCK, SCOPE, object_id)) == object_id
    leftovers = len(temp_files(store.root))
    assert leftovers <= 1
    assert store.sweep_temp(older_than_seconds=0) == leftovers
    assert temp_files(store.root) == []
    assert sorted(store.iter_ids(BLOCK, SCOPE)) == sorted(ids)


def test_sweep_temp_respects_age_and_removes_deleted_scopes(store: LocalObjectStore) -> None:
    data = b"payload"
    store.put(BLOCK, SCOPE, sha1(data), data)
    prefix_dir = store.root / SCOPE / BLOCK.value / sha1(data)[:2]
    old = prefix_dir / f"{TEMP_PREFIX}old"
    young = prefix_dir / f"{TEMP_PREFIX}young"
    old.write_bytes(b"partial")
    young.write_bytes(b"partial")
    an_hour_ago = time.time() - 3600
    os.utime(old, (an_hour_ago, an_hour_ago))
    trash = store.root / ".trash-leftover"
    (trash / "blocks" / "ab").mkdir(parents=True)
    (trash / "blocks" / "ab" / ("c" * 38)).write_bytes(b"deleted")

    assert store.sweep_temp(older_than_seconds=60) == 2
    assert not old.exists()
    assert young.exists()
    assert not trash.exists()
    assert store.get(BLOCK, SCOPE, sha1(data)) == data
    assert list(store.iter_ids(BLOCK, SCOPE)) == [sha1(data)]


# --- full disk and other I/O errors -------------------------------------------------------


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT])
def test_full_storage_is_unavailable_and_leaves_nothing(store: LocalObjectStore,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        code: int) -> None:
    data = os.urandom(100_000)
    object_id = sha1(data)

    def full(fd: int, buffer: bytes) -> int:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(Unavailable, match="storage is full") as info:
        store.put(BLOCK, SCOPE, object_id, data)
    assert isinstance(info.value.__cause__, OSError)
    monkeypatch.undo()

    assert not store.exists(BLOCK, SCOPE, object_id)
    assert list(store.iter_ids(BLOCK, SCOPE)) == []
    assert all_files(store.root) == []
    store.put(BLOCK, SCOPE, object_id, data)
    assert store.get(BLOCK, SCOPE, object_id) == data


def test_short_writes_are_completed(store: LocalObjectStore,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    real_write = os.write
    data = os.urandom(10_000)

    def dribble(fd: int, buffer: bytes) -> int:
        return real_write(fd, bytes(memoryview(buffer)[:999]))

    monkeypatch.setattr(os, "write", dribble)
    store.put(BLOCK, SCOPE, sha1(data), data)
    monkeypatch.undo()
    assert store.get(BLOCK, SCOPE, sha1(data)) == data


def test_failed_fsync_is_unavailable_and_leaves_nothing(store: LocalObjectStore,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    data = b"fsync will fail"

    def broken(fd: int) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(os, "fsync", broken)
    with pytest.raises(Unavailable) as info:
        store.put(BLOCK, SCOPE, sha1(data), data)
    monkeypatch.undo()
    assert "storage is full" not in str(info.value)
    assert SCOPE in str(info.value)
    assert all_files(store.root) == []


def test_unreadable_object_is_unavailable(store: LocalObjectStore,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    data = b"will not read"
    store.put(BLOCK, SCOPE, sha1(data), data)

    def broken(fd: int, size: int, offset: int) -> bytes:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(os, "pread", broken)
    with pytest.raises(Unavailable):
        store.get(BLOCK, SCOPE, sha1(data))


# --- concurrency ------------------------------------------------------------------------


def test_concurrent_puts_of_one_object(store: LocalObjectStore) -> None:
    data = os.urandom(2_000_000)
    object_id = sha1(data)
    threads = 16
    barrier = threading.Barrier(threads)

    def put() -> None:
        barrier.wait()
        store.put(BLOCK, SCOPE, object_id, data)

    with ThreadPoolExecutor(threads) as pool:
        for future in [pool.submit(put) for _ in range(threads)]:
            future.result()
    assert store.get(BLOCK, SCOPE, object_id) == data
    assert [p.name for p in all_files(store.root)] == [object_id[2:]]


def test_concurrent_puts_of_different_bytes_keep_one_whole_version(
        store: LocalObjectStore) -> None:
    object_id = sha1(b"the key")
    versions = [bytes([i]) * 500_000 for i in range(12)]
    barrier = threading.Barrier(len(versions))

    def put(data: bytes) -> None:
        barrier.wait()
        store.put(BLOCK, SCOPE, object_id, data)

    with ThreadPoolExecutor(len(versions)) as pool:
        list(pool.map(put, versions))
    assert store.get(BLOCK, SCOPE, object_id) in versions
    assert temp_files(store.root) == []


def test_concurrent_puts_of_many_objects_into_fresh_directories(
        store: LocalObjectStore) -> None:
    blobs = [os.urandom(1000) for _ in range(200)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda b: store.put(BLOCK, SCOPE, sha1(b), b), blobs))
    assert sorted(store.iter_ids(BLOCK, SCOPE)) == sorted(sha1(b) for b in blobs)
    assert temp_files(store.root) == []


# --- layout, fast paths and fallbacks ---------------------------------------------------


def test_layout(store: LocalObjectStore) -> None:
    data = b"layout"
    object_id = sha1(data)
    store.put(ObjectKind.FS, SCOPE, object_id, data)
    path = store.root / SCOPE / "fs" / object_id[:2] / object_id[2:]
    assert path.read_bytes() == data


def test_put_of_stored_object_writes_nothing(store: LocalObjectStore,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    data = b"already here"
    store.put(BLOCK, SCOPE, sha1(data), data)

    def forbidden(*args: object) -> None:
        raise AssertionError("no write expected")

    monkeypatch.setattr(os, "open", forbidden)
    store.put(BLOCK, SCOPE, sha1(data), data)


def test_put_into_existing_directory_creates_none(store: LocalObjectStore,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    first = b"first"
    second = next(b for i in range(10_000) if sha1(b := b"%d" % i)[:2] == sha1(first)[:2])
    store.put(BLOCK, SCOPE, sha1(first), first)

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("no mkdir expected")

    monkeypatch.setattr(os, "mkdir", forbidden)
    monkeypatch.setattr(os, "makedirs", forbidden)
    store.put(BLOCK, SCOPE, sha1(second), second)
    monkeypatch.undo()
    assert store.get(BLOCK, SCOPE, sha1(second)) == second


@pytest.mark.parametrize("direct", [True, False])
def test_get_reads_once_and_put_writes_in_whole_pieces(tmp_path: Path, direct: bool,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    store = LocalObjectStore(tmp_path / "objects", direct_writes=direct)
    data = os.urandom(10 * 1024 * 1024)
    writes = ["write"] * (-(-len(data) // STAGING_BYTES) if direct else 1)
    calls: list[str] = []
    real_read, real_write = os.pread, os.write

    def counting_read(fd: int, size: int, offset: int) -> bytes:
        calls.append("read")
        return real_read(fd, size, offset)

    def counting_write(fd: int, buffer: bytes) -> int:
        calls.append("write")
        return real_write(fd, buffer)

    monkeypatch.setattr(os, "pread", counting_read)
    monkeypatch.setattr(os, "write", counting_write)
    store.put(BLOCK, SCOPE, sha1(data), data)
    assert calls == writes
    assert store.get(BLOCK, SCOPE, sha1(data)) == data
    assert calls == [*writes, "read"]


def test_falls_back_to_rename_without_hard_links(store: LocalObjectStore,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    def no_links(src: str, dst: str) -> None:
        raise OSError(errno.EPERM, os.strerror(errno.EPERM))

    monkeypatch.setattr(os, "link", no_links)
    data = b"renamed into place"
    store.put(BLOCK, SCOPE, sha1(data), data)
    assert store.get(BLOCK, SCOPE, sha1(data)) == data
    other = b"second object"
    store.put(BLOCK, SCOPE, sha1(other), other)
    assert sorted(store.iter_ids(BLOCK, SCOPE)) == sorted([sha1(data), sha1(other)])
    assert temp_files(store.root) == []


def test_ids_listing_ignores_strays(store: LocalObjectStore) -> None:
    data = b"real"
    store.put(BLOCK, SCOPE, sha1(data), data)
    kind_dir = store.root / SCOPE / BLOCK.value
    (kind_dir / sha1(data)[:2] / "NOT-AN-ID").write_bytes(b"")
    (kind_dir / "zz").mkdir()
    (kind_dir / "zz" / ("0" * 38)).write_bytes(b"")
    (store.root / "not-a-scope").mkdir()
    assert list(store.iter_ids(BLOCK, SCOPE)) == [sha1(data)]
    assert list(store.iter_scopes()) == [SCOPE]


@pytest.mark.parametrize("scope", ["../../escape-" + "0" * 23, "/" * 36, "." * 36])
def test_hostile_keys_touch_nothing_outside_root(tmp_path: Path, scope: str) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    with pytest.raises(InvalidRequest):
        store.put(BLOCK, scope, sha1(b"x"), b"x")
    with pytest.raises(InvalidRequest):
        store.delete_scope(scope)
    with pytest.raises(InvalidRequest):
        store.put(BLOCK, SCOPE, "../" * 13 + "a", b"x")
    assert [p.name for p in tmp_path.iterdir()] == ["objects"]
    assert list((tmp_path / "objects").iterdir()) == []


def test_root_is_created(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "a" / "b")
    assert (tmp_path / "a" / "b").is_dir()
    assert store.root == tmp_path / "a" / "b"


def test_delete_scope_leaves_no_trash(store: LocalObjectStore) -> None:
    for i in range(20):
        data = b"%d" % i
        store.put(BLOCK, SCOPE, sha1(data), data)
    store.delete_scope(SCOPE)
    assert list(store.root.iterdir()) == []


def test_a_vanished_root_is_unavailable_not_empty(store: LocalObjectStore) -> None:
    data = b"on a disk that goes away"
    store.put(BLOCK, SCOPE, sha1(data), data)
    other = sha1(b"never stored")
    assert store.missing(BLOCK, SCOPE, [other]) == [other]  # a plain miss stays a miss
    for path in sorted(store.root.rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    store.root.rmdir()
    for call in (lambda: store.exists(BLOCK, SCOPE, sha1(data)),
                 lambda: store.get(BLOCK, SCOPE, sha1(data)),
                 lambda: store.open_read(BLOCK, SCOPE, sha1(data)),
                 lambda: store.stamp(BLOCK, SCOPE, sha1(data)),
                 lambda: store.missing(BLOCK, SCOPE, [other])):
        with pytest.raises(Unavailable, match="root folder"):
            call()
