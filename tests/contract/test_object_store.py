"""The ObjectStore contract, run against every adapter, plus the verifying decorator's checks."""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sesamedisk.adapters.objects.local import LocalObjectStore
from sesamedisk.adapters.objects.memory import MemoryObjectStore
from sesamedisk.adapters.objects.verifying import VerifyingObjectStore
from sesamedisk.domain.codec import (
    commit_id,
    encode_commit,
    encode_fs,
    encode_fs_object,
    sha1_hex,
)
from sesamedisk.domain.objects import SERVER_CREATOR, Commit, FileObject
from sesamedisk.errors import Corrupted, InvalidRequest, NotFound, ObjectNotFound
from sesamedisk.ports.objects import ObjectKind, ObjectStore
from sesamedisk.services.block_pipeline import store_block

SCOPE_A = "6f0c2b1e-8d4a-4c3b-9e2f-1a5b7c9d0e3f"
SCOPE_B = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"

# --- adapters ---------------------------------------------------------------------------
# Each factory builds a fresh, empty store for one test. A new adapter (S3, replicated, ...)
# joins the whole contract by adding one pytest.param here; it may pull any fixture it needs
# from `request` and register cleanup with request.addfinalizer.

StoreFactory = Callable[[pytest.FixtureRequest], ObjectStore]


def _local(request: pytest.FixtureRequest) -> LocalObjectStore:
    tmp_path = cast(Path, request.getfixturevalue("tmp_path"))
    return LocalObjectStore(tmp_path / "objects")


def _memory(request: pytest.FixtureRequest) -> MemoryObjectStore:
    return MemoryObjectStore()


def _verifying_local(request: pytest.FixtureRequest) -> VerifyingObjectStore:
    return VerifyingObjectStore(_local(request))


ADAPTERS = [
    pytest.param(_local, id="local"),
    pytest.param(_memory, id="memory"),
    pytest.param(_verifying_local, id="verifying-local"),
]


@pytest.fixture(params=ADAPTERS)
def store(request: pytest.FixtureRequest) -> ObjectStore:
    factory = cast(StoreFactory, request.param)
    return factory(request)


# --- real objects (ids computed as Seafile does, so the verifying store accepts them) ----


def block(data: bytes) -> tuple[str, bytes]:
    return sha1_hex(data), data


def fs_object(seed: int, size: int = 1) -> tuple[str, bytes]:
    return encode_fs_object(FileObject(block_ids=(sha1_hex(b"%d" % seed),), size=size))


def commit(scope: str, description: str = "Added a file", ctime: int = 1_700_000_000,
           creator_name: str | None = "alice@example.com") -> tuple[str, bytes]:
    root_id = sha1_hex(description.encode())
    cid = commit_id(root_id=root_id, creator=SERVER_CREATOR, creator_name=creator_name,
                    description=description, ctime=ctime)
    obj = Commit(commit_id=cid, root_id=root_id, repo_id=scope, creator=SERVER_CREATOR,
                 description=description, ctime=ctime, parent_id=None,
                 creator_name=creator_name, repo_name="Docs")
    return cid, encode_commit(obj)


def sample(kind: ObjectKind, scope: str, seed: int) -> tuple[str, bytes]:
    if kind is ObjectKind.BLOCK:
        return block(b"block %d " % seed * (seed + 1))
    if kind is ObjectKind.FS:
        return fs_object(seed)
    return commit(scope, f"change {seed}")


KINDS = list(ObjectKind)

# --- the contract -----------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_round_trip(store: ObjectStore, kind: ObjectKind) -> None:
    object_id, data = sample(kind, SCOPE_A, 1)
    assert not store.exists(kind, SCOPE_A, object_id)
    store.put(kind, SCOPE_A, object_id, data)
    assert store.get(kind, SCOPE_A, object_id) == data
    assert store.exists(kind, SCOPE_A, object_id)
    assert store.size(kind, SCOPE_A, object_id) == len(data)
    with store.open_read(kind, SCOPE_A, object_id) as stream:
        assert stream.read() == data


def test_store_block_keeps_a_block_under_its_sha1(store: ObjectStore) -> None:
    data = b"uploaded by the web " * 700
    block_id = store_block(store, SCOPE_A, data)
    assert block_id == sha1_hex(data)
    assert store.get(ObjectKind.BLOCK, SCOPE_A, block_id) == data
    assert store_block(store, SCOPE_A, data) == block_id  # idempotent
    assert list(store.iter_ids(ObjectKind.BLOCK, SCOPE_A)) == [block_id]


def test_kind_may_be_given_as_plain_string(store: ObjectStore) -> None:
    object_id, data = sample(ObjectKind.BLOCK, SCOPE_A, 1)
    store.put(cast(ObjectKind, "blocks"), SCOPE_A, object_id, data)
    assert store.get(ObjectKind.BLOCK, SCOPE_A, object_id) == data


def test_open_read_streams_in_small_reads(store: ObjectStore) -> None:
    object_id, data = block(bytes(range(256)) * 300)
    store.put(ObjectKind.BLOCK, SCOPE_A, object_id, data)
    chunks = []
    with store.open_read(ObjectKind.BLOCK, SCOPE_A, object_id) as stream:
        while chunk := stream.read(1000):
            chunks.append(chunk)
    assert b"".join(chunks) == data


def test_empty_block(store: ObjectStore) -> None:
    object_id, data = block(b"")
    store.put(ObjectKind.BLOCK, SCOPE_A, object_id, data)
    assert store.get(ObjectKind.BLOCK, SCOPE_A, object_id) == b""
    assert store.size(ObjectKind.BLOCK, SCOPE_A, object_id) == 0


@pytest.mark.parametrize("kind", KINDS)
def test_put_is_idempotent(store: ObjectStore, kind: ObjectKind) -> None:
    object_id, data = sample(kind, SCOPE_A, 2)
    store.put(kind, SCOPE_A, object_id, data)
    store.put(kind, SCOPE_A, object_id, data)
    assert store.get(kind, SCOPE_A, object_id) == data
    assert list(store.iter_ids(kind, SCOPE_A)) == [object_id]


def test_put_other_encoding_under_existing_key_keeps_first_bytes(store: ObjectStore) -> None:
    text = encode_fs(FileObject(block_ids=(sha1_hex(b"x"),), size=1))
    object_id = sha1_hex(text)
    first = zlib.compress(text, 9)
    second = _other_zlib_encoding(text, first)
    store.put(ObjectKind.FS, SCOPE_A, object_id, first)
    store.put(ObjectKind.FS, SCOPE_A, object_id, second)  # valid too: same id
    assert store.get(ObjectKind.FS, SCOPE_A, object_id) == first


def _other_zlib_encoding(text: bytes, avoid: bytes) -> bytes:
    """A zlib stream of `text` whose bytes differ from `avoid` (stored blocks, level 0)."""
    other = zlib.compress(text, 0)
    assert other != avoid
    assert zlib.decompress(other) == text
    return other


def test_put_wrong_bytes_under_existing_key_keeps_first_bytes(store: ObjectStore) -> None:
    object_id, data = block(b"the original")
    store.put(ObjectKind.BLOCK, SCOPE_A, object_id, data)
    # A plain store accepts and ignores the second put; a verifying one rejects it.
    with contextlib.suppress(InvalidRequest):
        store.put(ObjectKind.BLOCK, SCOPE_A, object_id, b"something else")
    assert store.get(ObjectKind.BLOCK, SCOPE_A, object_id) == data


@pytest.mark.parametrize("kind", KINDS)
def test_absent_object(store: ObjectStore, kind: ObjectKind) -> None:
    object_id, _ = sample(kind, SCOPE_A, 3)
    with pytest.raises(ObjectNotFound):
        store.get(kind, SCOPE_A, object_id)
    with pytest.raises(ObjectNotFound):
        store.open_read(kind, SCOPE_A, object_id)
    with pytest.raises(ObjectNotFound):
        store.size(kind, SCOPE_A, object_id)
    assert not store.exists(kind, SCOPE_A, object_id)


def test_absent_is_per_kind(store: ObjectStore) -> None:
    object_id, data = block(b"a block")
    store.put(ObjectKind.BLOCK, SCOPE_A, object_id, data)
    assert not store.exists(ObjectKind.FS, SCOPE_A, object_id)
    with pytest.raises(ObjectNotFound):
        store.get(ObjectKind.COMMIT, SCOPE_A, object_id)


def test_missing_keeps_order_and_drops_repeats(store: ObjectStore) -> None:
    ids = []
    for seed in range(5):
        object_id, data = sample(ObjectKind.BLOCK, SCOPE_A, seed)
        ids.append(object_id)
        if seed in (1, 3):
            store.put(ObjectKind.BLOCK, SCOPE_A, object_id, data)
    asked = [ids[4], ids[0], ids[1], ids[4], ids[2], ids[0], ids[3]]
    assert store.missing(ObjectKind.BLOCK, SCOPE_A, asked) == [ids[4], ids[0], ids[2]]
    assert store.missing(ObjectKind.BLOCK, SCOPE_A, iter(asked)) == [ids[4], ids[0], ids[2]]
    assert store.missing(ObjectKind.BLOCK, SCOPE_A, []) == []
    assert store.missing(ObjectKind.BLOCK, SCOPE_B, ids[1:2]) == ids[1:2]
    assert store.missing(ObjectKind.FS, SCOPE_A, ids[1:2]) == ids[1:2]


def test_iter_ids_and_iter_scopes(store: ObjectStore) -> None:
    assert list(store.iter_scopes()) == []
    assert list(store.iter_ids(ObjectKind.BLOCK, SCOPE_A)) == []
    stored: dict[ObjectKind, set[str]] = {}
    for kind in KINDS:
        for seed in range(3):
            object_id, data = sample(kind, SCOPE_A, seed)
            store.put(kind, SCOPE_A, object_id, data)
            stored.setdefault(kind, set()).add(object_id)
    commit_b, data_b = commit(SCOPE_B)
    store.put(ObjectKind.COMMIT, SCOPE_B, commit_b, data_b)
    for kind in KINDS:
        ids = list(store.iter_ids(kind, SCOPE_A))
        assert sorted(ids) == sorted(stored[kind])
    assert list(store.iter_ids(ObjectKind.COMMIT, SCOPE_B)) == [commit_b]
    assert list(store.iter_ids(ObjectKind.BLOCK, SCOPE_B)) == []
    assert sorted(store.iter_scopes()) == sorted([SCOPE_A, SCOPE_B])


def test_delete(store: ObjectStore) -> None:
    object_id, data = sample(ObjectKind.BLOCK, SCOPE_A, 4)
    other_id, other = sample(ObjectKind.BLOCK, SCOPE_A, 5)
    store.put(ObjectKind.BLOCK, SCOPE_A, object_id, data)
    store.put(ObjectKind.BLOCK, SCOPE_A, other_id, other)
    store.delete(ObjectKind.BLOCK, SCOPE_A, object_id)
    assert not store.exists(ObjectKind.BLOCK, SCOPE_A, object_id)
    with pytest.raises(ObjectNotFound):
        store.get(ObjectKind.BLOCK, SCOPE_A, object_id)
    assert list(store.iter_ids(ObjectKind.BLOCK, SCOPE_A)) == [other_id]
    assert store.missing(ObjectKind.BLOCK, SCOPE_A, [object_id, other_id]) == [object_id]
    store.delete(ObjectKind.BLOCK, SCOPE_A, object_id)  # absent: no error
    store.delete(ObjectKind.FS, SCOPE_B, object_id)  # never existed: no error
    store.put(ObjectKind.BLOCK, SCOPE_A, object_id, data)  # can come back (repair)
    assert store.get(ObjectKind.BLOCK, SCOPE_A, object_id) == data


def test_scope_without_objects_is_not_listed(store: ObjectStore) -> None:
    object_id, data = sample(ObjectKind.FS, SCOPE_A, 1)
    store.put(ObjectKind.FS, SCOPE_A, object_id, data)
    store.delete(ObjectKind.FS, SCOPE_A, object_id)
    assert list(store.iter_scopes()) == []


def test_delete_scope(store: ObjectStore) -> None:
    for scope in (SCOPE_A, SCOPE_B):
        for kind in KINDS:
            object_id, data = sample(kind, scope, 7)
            store.put(kind, scope, object_id, data)
    store.delete_scope(SCOPE_A)
    assert list(store.iter_scopes()) == [SCOPE_B]
    for kind in KINDS:
        object_id, data = sample(kind, SCOPE_A, 7)
        assert list(store.iter_ids(kind, SCOPE_A)) == []
        assert not store.exists(kind, SCOPE_A, object_id)
        object_id, data = sample(kind, SCOPE_B, 7)
        assert store.get(kind, SCOPE_B, object_id) == data
    store.delete_scope(SCOPE_A)  # already gone: no error
    object_id, data = sample(ObjectKind.BLOCK, SCOPE_A, 8)
    store.put(ObjectKind.BLOCK, SCOPE_A, object_id, data)  # the scope can be used again
    assert store.get(ObjectKind.BLOCK, SCOPE_A, object_id) == data


def test_scopes_are_isolated(store: ObjectStore) -> None:
    object_id, data = block(b"shared content")
    store.put(ObjectKind.BLOCK, SCOPE_A, object_id, data)
    assert not store.exists(ObjectKind.BLOCK, SCOPE_B, object_id)
    store.put(ObjectKind.BLOCK, SCOPE_B, object_id, data)
    store.delete(ObjectKind.BLOCK, SCOPE_A, object_id)
    assert store.get(ObjectKind.BLOCK, SCOPE_B, object_id) == data
    assert not store.exists(ObjectKind.BLOCK, SCOPE_A, object_id)
    store.put(ObjectKind.BLOCK, SCOPE_A, object_id, data)
    store.delete_scope(SCOPE_B)
    assert store.get(ObjectKind.BLOCK, SCOPE_A, object_id) == data


GOOD_ID = sha1_hex(b"x")
BAD_SCOPES = [
    "../etc",
    "../../../../../../../../../../../etc",  # 36 characters
    SCOPE_A.upper(),
    SCOPE_A + "\n",
    SCOPE_A[:-1],
    SCOPE_A + "0",
    "/" + SCOPE_A[1:],
    "",
    ".",
]
BAD_IDS = [
    GOOD_ID.upper(),
    GOOD_ID[:-1],
    GOOD_ID + "0",
    GOOD_ID + "\n",
    "../" + GOOD_ID[3:],
    "/" * 40,
    "",
    "g" * 40,
]


def _every_call(store: ObjectStore, kind: ObjectKind, scope: str,
                object_id: str) -> list[Callable[[], object]]:
    return [
        lambda: store.put(kind, scope, object_id, b"x"),
        lambda: store.get(kind, scope, object_id),
        lambda: store.open_read(kind, scope, object_id),
        lambda: store.exists(kind, scope, object_id),
        lambda: store.size(kind, scope, object_id),
        lambda: store.delete(kind, scope, object_id),
        lambda: store.missing(kind, scope, [object_id]),
    ]


@pytest.mark.parametrize("scope", BAD_SCOPES)
def test_invalid_scope_is_rejected(store: ObjectStore, scope: str) -> None:
    for call in _every_call(store, ObjectKind.BLOCK, scope, GOOD_ID):
        with pytest.raises(InvalidRequest):
            call()
    with pytest.raises(InvalidRequest):
        store.iter_ids(ObjectKind.BLOCK, scope)
    with pytest.raises(InvalidRequest):
        store.delete_scope(scope)
    assert list(store.iter_scopes()) == []


@pytest.mark.parametrize("object_id", BAD_IDS)
def test_invalid_object_id_is_rejected(store: ObjectStore, object_id: str) -> None:
    for call in _every_call(store, ObjectKind.BLOCK, SCOPE_A, object_id):
        with pytest.raises(InvalidRequest):
            call()
    assert list(store.iter_scopes()) == []


@pytest.mark.parametrize("kind", ["../blocks", "BLOCKS", "", "block"])
def test_invalid_kind_is_rejected(store: ObjectStore, kind: str) -> None:
    for call in _every_call(store, cast(ObjectKind, kind), SCOPE_A, GOOD_ID):
        with pytest.raises(InvalidRequest):
            call()
    with pytest.raises(InvalidRequest):
        store.iter_ids(cast(ObjectKind, kind), SCOPE_A)


# The store is shared across examples on purpose: keys are content-derived, so examples
# cannot disturb one another, and a fresh tmp_path per example would be slow.
@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=4096),
       blocks=st.lists(st.binary(min_size=1, max_size=8), min_size=1, max_size=5),
       description=st.text(max_size=60), ctime=st.integers(0, 2**40))
def test_round_trip_property(store: ObjectStore, data: bytes, blocks: list[bytes],
                             description: str, ctime: int) -> None:
    fs_text_obj = FileObject(block_ids=tuple(sha1_hex(b) for b in blocks), size=len(blocks))
    objects = [
        (ObjectKind.BLOCK, *block(data)),
        (ObjectKind.FS, *encode_fs_object(fs_text_obj)),
        (ObjectKind.COMMIT, *commit(SCOPE_B, description, ctime)),
    ]
    for kind, object_id, payload in objects:
        store.put(kind, SCOPE_B, object_id, payload)
        assert store.get(kind, SCOPE_B, object_id) == payload
        assert store.size(kind, SCOPE_B, object_id) == len(payload)
        with store.open_read(kind, SCOPE_B, object_id) as stream:
            assert stream.read() == payload
        assert store.missing(kind, SCOPE_B, [object_id]) == []
        assert object_id in set(store.iter_ids(kind, SCOPE_B))


# --- the verifying decorator --------------------------------------------------------------


@pytest.fixture
def local(tmp_path: Path) -> LocalObjectStore:
    return LocalObjectStore(tmp_path / "objects")


@pytest.fixture
def verifying(local: LocalObjectStore) -> VerifyingObjectStore:
    return VerifyingObjectStore(local)


def _file(local: LocalObjectStore, kind: ObjectKind, scope: str, object_id: str) -> Path:
    return local.root / scope / kind.value / object_id[:2] / object_id[2:]


def _flip(path: Path, offset: int) -> None:
    raw = bytearray(path.read_bytes())
    raw[offset] ^= 0x01
    path.write_bytes(bytes(raw))


def _assert_corrupted(store: VerifyingObjectStore, kind: ObjectKind, object_id: str) -> None:
    with pytest.raises(Corrupted) as info:
        store.get(kind, SCOPE_A, object_id)
    assert f"{kind.value}/{SCOPE_A}/{object_id}" in str(info.value)
    assert not isinstance(info.value, NotFound)
    with pytest.raises(Corrupted):
        store.verify(kind, SCOPE_A, object_id)
    with pytest.raises(Corrupted), store.open_read(kind, SCOPE_A, object_id) as stream:
        stream.read()


@pytest.mark.parametrize("offset", [0, 1000, -1])
def test_flipped_byte_in_block_is_corrupted(local: LocalObjectStore,
                                            verifying: VerifyingObjectStore,
                                            offset: int) -> None:
    object_id, data = block(bytes(range(256)) * 16)
    verifying.put(ObjectKind.BLOCK, SCOPE_A, object_id, data)
    verifying.verify(ObjectKind.BLOCK, SCOPE_A, object_id)
    _flip(_file(local, ObjectKind.BLOCK, SCOPE_A, object_id), offset)
    _assert_corrupted(verifying, ObjectKind.BLOCK, object_id)
    assert local.get(ObjectKind.BLOCK, SCOPE_A, object_id) != data  # the raw store does not care


def test_corrupted_block_stream_fails_before_its_last_byte(
        local: LocalObjectStore, verifying: VerifyingObjectStore) -> None:
    object_id, data = block(b"0123456789" * 10_000)
    verifying.put(ObjectKind.BLOCK, SCOPE_A, object_id, data)
    _flip(_file(local, ObjectKind.BLOCK, SCOPE_A, object_id), 0)
    received = bytearray()

    def drain() -> None:
        with verifying.open_read(ObjectKind.BLOCK, SCOPE_A, object_id) as stream:
            while chunk := stream.read(100):
                received.extend(chunk)

    with pytest.raises(Corrupted):
        drain()
    assert 0 < len(received) < len(data)


def test_truncated_or_extended_block_is_corrupted(local: LocalObjectStore,
                                                  verifying: VerifyingObjectStore) -> None:
    object_id, data = block(b"some block content")
    verifying.put(ObjectKind.BLOCK, SCOPE_A, object_id, data)
    path = _file(local, ObjectKind.BLOCK, SCOPE_A, object_id)
    path.write_bytes(data[:-1])
    _assert_corrupted(verifying, ObjectKind.BLOCK, object_id)
    path.write_bytes(data + b"!")
    _assert_corrupted(verifying, ObjectKind.BLOCK, object_id)


def test_every_flipped_byte_in_fs_object_is_corrupted(local: LocalObjectStore,
                                                      verifying: VerifyingObjectStore) -> None:
    object_id, data = fs_object(9, size=12345)
    verifying.put(ObjectKind.FS, SCOPE_A, object_id, data)
    path = _file(local, ObjectKind.FS, SCOPE_A, object_id)
    for offset in range(len(data)):
        path.write_bytes(data)
        _flip(path, offset)
        with pytest.raises(Corrupted):
            verifying.get(ObjectKind.FS, SCOPE_A, object_id)
    path.write_bytes(b"not zlib at all")
    _assert_corrupted(verifying, ObjectKind.FS, object_id)


def test_incomplete_or_extended_fs_stream_is_corrupted(local: LocalObjectStore,
                                                       verifying: VerifyingObjectStore) -> None:
    object_id, data = fs_object(9)
    verifying.put(ObjectKind.FS, SCOPE_A, object_id, data)
    path = _file(local, ObjectKind.FS, SCOPE_A, object_id)
    # Each of these still inflates to the right JSON with a lenient decoder.
    for altered in (data[:-4], data[:-1], data + b"\0", data + data):
        path.write_bytes(altered)
        _assert_corrupted(verifying, ObjectKind.FS, object_id)
        with pytest.raises(InvalidRequest):
            verifying.put(ObjectKind.FS, SCOPE_B, object_id, altered)


@pytest.mark.parametrize("field", ["description", "ctime", "root_id", "commit_id"])
def test_flipped_byte_in_commit_is_corrupted(local: LocalObjectStore,
                                             verifying: VerifyingObjectStore,
                                             field: str) -> None:
    object_id, data = commit(SCOPE_A, "Renamed a file", ctime=1_700_000_123)
    verifying.put(ObjectKind.COMMIT, SCOPE_A, object_id, data)
    path = _file(local, ObjectKind.COMMIT, SCOPE_A, object_id)
    key = f'"{field}": '.encode()
    value_at = data.index(key) + len(key)
    _flip(path, value_at + 3)  # inside the value: a digit, hex digit or letter
    _assert_corrupted(verifying, ObjectKind.COMMIT, object_id)


def test_undecodable_commit_is_corrupted(local: LocalObjectStore,
                                         verifying: VerifyingObjectStore) -> None:
    object_id, data = commit(SCOPE_A)
    verifying.put(ObjectKind.COMMIT, SCOPE_A, object_id, data)
    path = _file(local, ObjectKind.COMMIT, SCOPE_A, object_id)
    for broken in (b"\xff" + data[1:], data[:-1], b"[" * 100_000,
                   data.replace(b'"ctime": 1700000000', b'"ctime": ' + b"9" * 30)):
        path.write_bytes(broken)
        with pytest.raises(Corrupted):
            verifying.get(ObjectKind.COMMIT, SCOPE_A, object_id)


def test_verifying_put_rejects_mismatches_and_stores_nothing(
        local: LocalObjectStore, verifying: VerifyingObjectStore) -> None:
    block_id, _ = block(b"right")
    fs_id, fs_data = fs_object(1)
    other_commit, commit_data = commit(SCOPE_A)
    _, other_data = commit(SCOPE_A, "something else")
    wrong = [
        (ObjectKind.BLOCK, block_id, b"wrong"),
        (ObjectKind.FS, fs_id, fs_object(2)[1]),
        (ObjectKind.FS, fs_id, b"not zlib"),
        (ObjectKind.FS, fs_id, fs_data[:-4] + b"\0\0\0\0"),
        (ObjectKind.COMMIT, other_commit, other_data),
        (ObjectKind.COMMIT, other_commit, b"{}"),
        (ObjectKind.COMMIT, other_commit, b"\xff"),
        (ObjectKind.BLOCK, sha1_hex(commit_data), commit_data.replace(b"Docs", b"Dogs")),
    ]
    for kind, object_id, data in wrong:
        with pytest.raises(InvalidRequest, match="does not match"):
            verifying.put(kind, SCOPE_A, object_id, data)
        assert not local.exists(kind, SCOPE_A, object_id)
    assert list(local.iter_scopes()) == []


def test_commit_stored_under_another_id_is_rejected(verifying: VerifyingObjectStore) -> None:
    real_id, data = commit(SCOPE_A)
    with pytest.raises(InvalidRequest):
        verifying.put(ObjectKind.COMMIT, SCOPE_A, sha1_hex(data), data)
    verifying.put(ObjectKind.COMMIT, SCOPE_A, real_id, data)


def test_verify_of_absent_object_is_not_found(verifying: VerifyingObjectStore) -> None:
    with pytest.raises(ObjectNotFound):
        verifying.verify(ObjectKind.BLOCK, SCOPE_A, GOOD_ID)
    with pytest.raises(ObjectNotFound):
        verifying.open_read(ObjectKind.BLOCK, SCOPE_A, GOOD_ID)
