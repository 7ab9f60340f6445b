"""The streaming half of the ObjectStore contract: open_writer, write, commit, abort."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sesamedisk.adapters.objects.local import TEMP_PREFIX, LocalObjectStore
from sesamedisk.adapters.objects.verifying import VerifyingObjectStore
from sesamedisk.domain.codec import sha1_hex
from sesamedisk.errors import Corrupted, InvalidRequest
from sesamedisk.ports.objects import ObjectKind, ObjectStore
from tests.contract.test_object_store import SCOPE_A, commit, fs_object, store

__all__ = ["store"]
BLOCK = ObjectKind.BLOCK


def _stream(store: ObjectStore, pieces: list[bytes], kind: ObjectKind = BLOCK) -> str:
    writer = store.open_writer(kind, SCOPE_A)
    for piece in pieces:
        writer.write(piece)
    digest = writer.digest
    assert writer.size == sum(map(len, pieces))
    writer.commit(digest)
    return digest


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pieces=st.lists(st.binary(max_size=3000), max_size=8))
def test_streamed_object_reads_back_exactly(store: ObjectStore, pieces: list[bytes]) -> None:
    digest = _stream(store, pieces)
    assert digest == sha1_hex(b"".join(pieces))
    assert store.get(BLOCK, SCOPE_A, digest) == b"".join(pieces)


def test_nothing_is_visible_before_commit_or_after_abort(store: ObjectStore) -> None:
    writer = store.open_writer(BLOCK, SCOPE_A)
    writer.write(b"half an object")
    assert list(store.iter_ids(BLOCK, SCOPE_A)) == []
    writer.abort()
    writer.abort()
    assert list(store.iter_ids(BLOCK, SCOPE_A)) == []
    with pytest.raises(InvalidRequest):
        writer.write(b"more")


def test_commit_never_replaces_an_existing_object(store: ObjectStore) -> None:
    first = _stream(store, [b"original"])
    writer = store.open_writer(BLOCK, SCOPE_A)
    writer.write(b"impostor")
    with contextlib.suppress(InvalidRequest):  # a verifying store refuses it outright
        writer.commit(first)
    assert store.get(BLOCK, SCOPE_A, first) == b"original"
    with pytest.raises(InvalidRequest):
        writer.commit(first)


def test_fs_objects_and_commits_stream_too(store: ObjectStore) -> None:
    fs_id, fs_raw = fs_object(7)
    writer = store.open_writer(ObjectKind.FS, SCOPE_A)
    writer.write(fs_raw[:5])
    writer.write(fs_raw[5:])
    writer.commit(fs_id)
    assert store.get(ObjectKind.FS, SCOPE_A, fs_id) == fs_raw
    cid, raw = commit(SCOPE_A)
    writer = store.open_writer(ObjectKind.COMMIT, SCOPE_A)
    writer.write(raw)
    writer.commit(cid)
    assert store.get(ObjectKind.COMMIT, SCOPE_A, cid) == raw


@pytest.mark.parametrize("kind", list(ObjectKind))
def test_verifying_writer_refuses_bytes_that_do_not_match(tmp_path: Path,
                                                          kind: ObjectKind) -> None:
    local = LocalObjectStore(tmp_path / "objects")
    verifying = VerifyingObjectStore(local)
    writer = verifying.open_writer(kind, SCOPE_A)
    writer.write(b"not what the id says")
    wrong = sha1_hex(b"something else")
    with pytest.raises(InvalidRequest):
        writer.commit(wrong)
    assert not local.exists(kind, SCOPE_A, wrong)
    assert not list((tmp_path / "objects").rglob(f"{TEMP_PREFIX}*"))


def test_local_writer_leaves_no_temp_files(tmp_path: Path) -> None:
    local = LocalObjectStore(tmp_path / "objects")
    _stream(local, [b"a" * 100_000, b"b" * 50])
    aborted = local.open_writer(BLOCK, SCOPE_A)
    aborted.write(b"dropped")
    aborted.abort()
    assert not list((tmp_path / "objects").rglob(f"{TEMP_PREFIX}*"))


def test_sweep_removes_temp_files_of_a_crashed_stream(tmp_path: Path) -> None:
    local = LocalObjectStore(tmp_path / "objects")
    writer = local.open_writer(BLOCK, SCOPE_A)
    writer.write(b"the process dies before commit")
    temps = list((tmp_path / "objects").rglob(f"{TEMP_PREFIX}*"))
    assert len(temps) == 1
    assert local.sweep_temp(0) == 1
    assert not temps[0].exists()
    assert list(local.iter_ids(BLOCK, SCOPE_A)) == []


@pytest.mark.parametrize("write_path", ["put", "stream"])
def test_verifying_store_notices_a_byte_flipped_right_after_the_write(
        tmp_path: Path, write_path: str) -> None:
    local = LocalObjectStore(tmp_path / "objects")
    verifying = VerifyingObjectStore(local)
    data = b"precious bytes " * 1000
    if write_path == "put":
        block_id = sha1_hex(data)
        verifying.put(BLOCK, SCOPE_A, block_id, data)
    else:
        block_id = _stream(verifying, [data])
    assert verifying.get(BLOCK, SCOPE_A, block_id) == data
    stored = next(p for p in (tmp_path / "objects").rglob(block_id[2:]))
    with stored.open("r+b") as handle:
        handle.seek(5)
        handle.write(b"X")
    with pytest.raises(Corrupted):
        verifying.get(BLOCK, SCOPE_A, block_id)


def test_objects_get_a_settled_mtime_so_later_writes_always_change_it(tmp_path: Path) -> None:
    local = LocalObjectStore(tmp_path / "objects")
    block_id = _stream(local, [b"abc"])
    stamp = local.stamp(BLOCK, SCOPE_A, block_id)
    assert stamp, "a freshly stored object must already have a trustworthy stamp"
    assert local.get_stamped(BLOCK, SCOPE_A, block_id) == (b"abc", stamp)
