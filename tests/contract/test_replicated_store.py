"""The replicated ObjectStore: the full store contract, plus failure, repair and residency."""

from __future__ import annotations

import contextlib
import inspect
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO, cast

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from sesamedisk.adapters.objects.local import LocalObjectStore
from sesamedisk.adapters.objects.memory import MemoryObjectStore
from sesamedisk.adapters.objects.replicated import (
    NamedBackend,
    ReplicatedObjectStore,
)
from sesamedisk.adapters.objects.replicated_repair import TokenBucket
from sesamedisk.adapters.objects.verifying import content_matches
from sesamedisk.errors import Corrupted, InvalidRequest, ObjectNotFound, Unavailable
from sesamedisk.ports.objects import ObjectKind, ObjectStore, ObjectWriter
from tests.contract import test_object_store as store_contract
from tests.contract import test_object_writer as writer_contract
from tests.contract.test_object_store import SCOPE_A, SCOPE_B, sample

# --- the same contract suites, run against the replicated store ---------------------------
# Every contract test that takes the `store` fixture is re-exported here, so pytest collects
# it in this module, where `store` below is the fixture it gets.
IMPORTED: list[str] = []
for _module in (store_contract, writer_contract):
    for _name, _test in vars(_module).items():
        if (_name.startswith("test_") and callable(_test)
                and "store" in inspect.signature(_test).parameters):
            globals()[_name] = _test
            IMPORTED.append(_name)


def _replicated_local(request: pytest.FixtureRequest) -> ReplicatedObjectStore:
    tmp_path = cast(Path, request.getfixturevalue("tmp_path"))
    backends = [NamedBackend(f"local{i}", "eu", LocalObjectStore(tmp_path / f"r{i}"))
                for i in range(3)]
    return ReplicatedObjectStore(backends, write_quorum=2)


def _replicated_memory(request: pytest.FixtureRequest) -> ReplicatedObjectStore:
    backends = [NamedBackend(f"mem{i}", "eu", MemoryObjectStore()) for i in range(3)]
    return ReplicatedObjectStore(backends, write_quorum=2)


@pytest.fixture(params=[pytest.param(_replicated_local, id="replicated-local"),
                        pytest.param(_replicated_memory, id="replicated-memory")])
def store(request: pytest.FixtureRequest) -> Iterator[ObjectStore]:
    replicated = request.param(request)
    yield replicated
    replicated.close()


def test_the_contract_suites_are_imported() -> None:
    assert len(IMPORTED) == 23  # 19 store + 4 writer contract tests today
    assert "test_round_trip" in IMPORTED
    assert "test_streamed_object_reads_back_exactly" in IMPORTED


# --- test doubles -------------------------------------------------------------------------


class FlakyStore:
    """Wraps a store; while `down`, every call raises Unavailable. Counts writes."""

    def __init__(self, inner: ObjectStore | None = None) -> None:
        self.inner: ObjectStore = inner or MemoryObjectStore()
        self.down = False
        self.writes = 0

    def _check(self) -> None:
        if self.down:
            raise Unavailable("backend is down (test)")

    def put(self, kind: ObjectKind, scope: str, object_id: str, data: bytes) -> None:
        self._check()
        self.writes += 1
        self.inner.put(kind, scope, object_id, data)

    def open_writer(self, kind: ObjectKind, scope: str) -> ObjectWriter:
        self._check()
        self.writes += 1
        return FlakyWriter(self, self.inner.open_writer(kind, scope))

    def flush(self) -> None:
        self._check()
        self.inner.flush()

    def get(self, kind: ObjectKind, scope: str, object_id: str) -> bytes:
        self._check()
        return self.inner.get(kind, scope, object_id)

    def open_read(self, kind: ObjectKind, scope: str, object_id: str) -> BinaryIO:
        self._check()
        return self.inner.open_read(kind, scope, object_id)

    def exists(self, kind: ObjectKind, scope: str, object_id: str) -> bool:
        self._check()
        return self.inner.exists(kind, scope, object_id)

    def missing(self, kind: ObjectKind, scope: str, object_ids: Iterable[str]) -> list[str]:
        self._check()
        return self.inner.missing(kind, scope, object_ids)

    def size(self, kind: ObjectKind, scope: str, object_id: str) -> int:
        self._check()
        return self.inner.size(kind, scope, object_id)

    def delete(self, kind: ObjectKind, scope: str, object_id: str) -> None:
        self._check()
        self.inner.delete(kind, scope, object_id)

    def iter_ids(self, kind: ObjectKind, scope: str) -> Iterator[str]:
        self._check()
        return self.inner.iter_ids(kind, scope)

    def iter_scopes(self) -> Iterator[str]:
        self._check()
        return self.inner.iter_scopes()

    def delete_scope(self, scope: str) -> None:
        self._check()
        self.inner.delete_scope(scope)


class FlakyWriter:
    """A writer that fails like its FlakyStore while that store is down."""

    def __init__(self, owner: FlakyStore, inner: ObjectWriter) -> None:
        self._owner = owner
        self._inner = inner

    @property
    def digest(self) -> str:
        return self._inner.digest

    @property
    def size(self) -> int:
        return self._inner.size

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._owner._check()
        self._inner.write(data)

    def commit(self, object_id: str) -> None:
        self._owner._check()
        self._inner.commit(object_id)

    def abort(self) -> None:
        self._inner.abort()


def _flaky(count: int = 3, regions: tuple[str, ...] = ("eu", "eu", "eu"),
           allowed: frozenset[str] | None = None
           ) -> tuple[ReplicatedObjectStore, list[FlakyStore]]:
    doubles = [FlakyStore() for _ in range(count)]
    backends = [NamedBackend(f"b{i}", regions[i], d) for i, d in enumerate(doubles)]
    return ReplicatedObjectStore(backends, write_quorum=2, allowed_regions=allowed), doubles


def _copies(doubles: list[FlakyStore], kind: ObjectKind, scope: str, object_id: str) -> int:
    good = 0
    for double in doubles:
        with contextlib.suppress(ObjectNotFound):
            good += content_matches(kind, object_id, double.inner.get(kind, scope, object_id))
    return good


def _objects(count: int) -> list[tuple[ObjectKind, str, bytes]]:
    kinds = list(ObjectKind)
    return [(kinds[i % 3], *sample(kinds[i % 3], SCOPE_A, i)) for i in range(count)]


# --- failures -------------------------------------------------------------------------------


def test_one_backend_down_degrades_and_repair_restores_three_copies() -> None:
    store, doubles = _flaky()
    doubles[1].down = True
    objects = _objects(6)
    for kind, object_id, data in objects:
        store.put(kind, SCOPE_A, object_id, data)
    status = store.status()
    assert status.degraded
    down = next(b for b in status.backends if b.name == "b1")
    assert not down.healthy
    assert down.last_error
    assert down.pending_repairs == 6
    for kind, object_id, data in objects:
        assert store.get(kind, SCOPE_A, object_id) == data
        assert _copies(doubles, kind, SCOPE_A, object_id) == 2
    report = store.repair_pending()
    assert report.deferred == 6  # still down: nothing lost, all still queued
    doubles[1].down = False
    report = store.repair_pending()
    assert report.repaired == 6
    for kind, object_id, _ in objects:
        assert _copies(doubles, kind, SCOPE_A, object_id) == 3
    assert not store.status().degraded
    store.close()


def test_two_backends_down_refuses_puts() -> None:
    store, doubles = _flaky()
    doubles[0].down = doubles[2].down = True
    kind, object_id, data = _objects(1)[0]
    with pytest.raises(Unavailable):
        store.put(kind, SCOPE_A, object_id, data)
    with pytest.raises(Unavailable):
        store.open_writer(ObjectKind.BLOCK, SCOPE_A)
    with pytest.raises(Unavailable):
        store.flush()
    # one copy landed: it is reported present (some backend has it) and gets repaired later
    assert store.exists(kind, SCOPE_A, object_id)
    doubles[0].down = doubles[2].down = False
    store.repair_pending()
    assert _copies(doubles, kind, SCOPE_A, object_id) == 3
    store.close()


def test_backend_failing_mid_stream_is_dropped_and_repaired() -> None:
    store, doubles = _flaky()
    writer = store.open_writer(ObjectKind.BLOCK, SCOPE_A)
    writer.write(b"first half, ")
    doubles[2].down = True
    writer.write(b"second half")
    block_id = writer.digest
    writer.commit(block_id)
    assert _copies(doubles, ObjectKind.BLOCK, SCOPE_A, block_id) == 2
    doubles[2].down = False
    store.repair_pending()
    assert _copies(doubles, ObjectKind.BLOCK, SCOPE_A, block_id) == 3
    doubles[0].down = doubles[1].down = True
    with pytest.raises(Unavailable):
        store.open_writer(ObjectKind.BLOCK, SCOPE_A)
    store.close()


def test_missing_copy_found_by_check_is_queued_and_absent_on_all_is_missing() -> None:
    store, doubles = _flaky()
    kind, object_id, data = _objects(1)[0]
    store.put(kind, SCOPE_A, object_id, data)
    doubles[0].inner.delete(kind, SCOPE_A, object_id)
    assert store.missing(kind, SCOPE_A, [object_id]) == []
    assert store.status().pending_repairs == 1
    store.repair_pending()
    assert _copies(doubles, kind, SCOPE_A, object_id) == 3
    store.delete(kind, SCOPE_A, object_id)
    assert store.missing(kind, SCOPE_A, [object_id]) == [object_id]
    store.close()


def test_delete_while_a_backend_is_down_never_resurrects() -> None:
    store, doubles = _flaky()
    kind, object_id, data = _objects(1)[0]
    store.put(kind, SCOPE_A, object_id, data)
    doubles[0].down = True
    store.delete(kind, SCOPE_A, object_id)
    doubles[0].down = False
    with pytest.raises(ObjectNotFound):
        store.get(kind, SCOPE_A, object_id)
    assert store.missing(kind, SCOPE_A, [object_id]) == [object_id]
    assert list(store.iter_ids(kind, SCOPE_A)) == []
    store.repair_pending()
    assert _copies(doubles, kind, SCOPE_A, object_id) == 0
    store.close()


def test_flush_and_size_with_one_backend_down() -> None:
    store, doubles = _flaky()
    kind, object_id, data = _objects(1)[0]
    store.put(kind, SCOPE_A, object_id, data)
    doubles[0].down = True
    store.flush()
    assert store.size(kind, SCOPE_A, object_id) == len(data)
    with store.open_read(kind, SCOPE_A, object_id) as stream:
        assert stream.read() == data
    doubles[1].down = doubles[2].down = True
    with pytest.raises(Unavailable):
        store.get(kind, SCOPE_A, object_id)
    with pytest.raises(Unavailable):
        store.missing(kind, SCOPE_A, [object_id])
    store.close()


def test_delete_scope_while_a_backend_is_down_is_finished_by_repair() -> None:
    store, doubles = _flaky()
    objects = _objects(3)
    for kind, object_id, data in objects:
        store.put(kind, SCOPE_A, object_id, data)
    doubles[2].down = True
    store.delete_scope(SCOPE_A)
    doubles[2].down = False
    assert list(store.iter_scopes()) == []
    kind, object_id, data = objects[0]
    store.put(kind, SCOPE_A, object_id, data)  # the scope is used again at once
    assert store.get(kind, SCOPE_A, object_id) == data
    store.repair_pending()
    assert list(doubles[2].inner.iter_scopes()) == [SCOPE_A]
    assert list(doubles[2].inner.iter_ids(kind, SCOPE_A)) == [object_id]
    assert not store.status().degraded
    store.close()


def test_token_bucket_sleeps_off_its_debt() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    bucket = TokenBucket(1000, clock=lambda: now[0], sleep=sleep)
    bucket.consume(1000)  # the one-second burst
    assert slept == []
    bucket.consume(500)
    assert slept == [0.5]


@pytest.fixture
def local_backends(tmp_path: Path) -> Iterator[tuple[ReplicatedObjectStore,
                                                     list[LocalObjectStore]]]:
    locals_ = [LocalObjectStore(tmp_path / f"r{i}") for i in range(3)]
    store = ReplicatedObjectStore(
        [NamedBackend(f"l{i}", "eu", s) for i, s in enumerate(locals_)], write_quorum=2)
    yield store, locals_
    store.close()


def _local_copies(locals_: list[LocalObjectStore], kind: ObjectKind, object_id: str) -> int:
    good = 0
    for local in locals_:
        with contextlib.suppress(ObjectNotFound):
            good += content_matches(kind, object_id, local.get(kind, SCOPE_A, object_id))
    return good


def test_losing_a_whole_local_backend_folder(
        local_backends: tuple[ReplicatedObjectStore, list[LocalObjectStore]]) -> None:
    store, locals_ = local_backends
    objects = _objects(9)
    for kind, object_id, data in objects:
        store.put(kind, SCOPE_A, object_id, data)
    shutil.rmtree(locals_[0].root)
    locals_[0].root.mkdir()  # the disk is replaced by an empty one
    for kind, object_id, data in objects:
        assert store.get(kind, SCOPE_A, object_id) == data
    assert store.status().pending_repairs == 9  # every read found l0's copy missing
    report = store.scrub()
    assert (report.checked, report.missing_found, report.repaired) == (9, 9, 9)
    assert not store.status().degraded
    report = store.scrub()
    assert report.checked == 9
    assert report.missing_found == report.corrupt_found == 0
    for kind, object_id, _ in objects:
        assert _local_copies(locals_, kind, object_id) == 3


def test_scrub_alone_restores_a_lost_backend(
        local_backends: tuple[ReplicatedObjectStore, list[LocalObjectStore]]) -> None:
    store, locals_ = local_backends
    objects = _objects(6)
    for kind, object_id, data in objects:
        store.put(kind, SCOPE_A, object_id, data)
    shutil.rmtree(locals_[2].root / SCOPE_A)
    report = store.scrub(max_bytes_per_second=10_000_000)
    assert (report.checked, report.missing_found, report.repaired) == (6, 6, 6)
    for kind, object_id, _ in objects:
        assert _local_copies(locals_, kind, object_id) == 3


def _flip(local: LocalObjectStore, kind: ObjectKind, object_id: str) -> None:
    path = local.root / SCOPE_A / kind.value / object_id[:2] / object_id[2:]
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    path.write_bytes(bytes(raw))


def test_flipped_byte_is_served_around_and_repaired(
        local_backends: tuple[ReplicatedObjectStore, list[LocalObjectStore]]) -> None:
    store, locals_ = local_backends
    object_id, data = sample(ObjectKind.BLOCK, SCOPE_A, 40)
    store.put(ObjectKind.BLOCK, SCOPE_A, object_id, data)
    _flip(locals_[0], ObjectKind.BLOCK, object_id)
    assert store.get(ObjectKind.BLOCK, SCOPE_A, object_id) == data
    assert store.status().pending_repairs == 1
    assert store.repair_pending().repaired == 1
    assert _local_copies(locals_, ObjectKind.BLOCK, object_id) == 3


def test_scrub_reports_and_repairs_a_flipped_byte(
        local_backends: tuple[ReplicatedObjectStore, list[LocalObjectStore]]) -> None:
    store, locals_ = local_backends
    fs_id, fs_data = sample(ObjectKind.FS, SCOPE_A, 3)
    store.put(ObjectKind.FS, SCOPE_A, fs_id, fs_data)
    _flip(locals_[1], ObjectKind.FS, fs_id)
    report = store.scrub(SCOPE_A)
    assert (report.corrupt_found, report.repaired, report.unrecoverable) == (1, 1, [])
    assert _local_copies(locals_, ObjectKind.FS, fs_id) == 3
    assert store.scrub().corrupt_found == 0


def test_all_copies_bad_is_corrupted_and_unrecoverable(
        local_backends: tuple[ReplicatedObjectStore, list[LocalObjectStore]]) -> None:
    store, locals_ = local_backends
    object_id, data = sample(ObjectKind.BLOCK, SCOPE_A, 5)
    store.put(ObjectKind.BLOCK, SCOPE_A, object_id, data)
    for local in locals_:
        _flip(local, ObjectKind.BLOCK, object_id)
    with pytest.raises(Corrupted):
        store.get(ObjectKind.BLOCK, SCOPE_A, object_id)
    assert store.scrub().unrecoverable == [(ObjectKind.BLOCK, SCOPE_A, object_id)]


# --- residency ------------------------------------------------------------------------------


def test_nothing_is_ever_written_outside_the_allowed_regions() -> None:
    store, doubles = _flaky(regions=("eu", "eu", "cn"), allowed=frozenset({"eu"}))
    cn = doubles[2]
    objects = _objects(6)
    for kind, object_id, data in objects:
        store.put(kind, SCOPE_A, object_id, data)
    writer = store.open_writer(ObjectKind.BLOCK, SCOPE_A)
    writer.write(b"streamed")
    writer.commit(writer.digest)
    legacy_kind = ObjectKind.BLOCK
    legacy_id, legacy = sample(legacy_kind, SCOPE_B, 77)
    cn.inner.put(legacy_kind, SCOPE_B, legacy_id, legacy)  # data already there
    doubles[0].inner.delete(objects[0][0], SCOPE_A, objects[0][1])
    assert store.get(objects[0][0], SCOPE_A, objects[0][1]) == objects[0][2]
    store.repair_pending()
    report = store.scrub()
    assert report.unrecoverable == []
    assert cn.writes == 0
    assert list(cn.inner.iter_scopes()) == [SCOPE_B]
    assert _copies(doubles[:2], legacy_kind, SCOPE_B, legacy_id) == 2  # migrated into eu
    assert not next(b for b in store.status().backends if b.name == "b2").writable
    store.close()


def test_too_few_allowed_backends_is_refused() -> None:
    backends = [NamedBackend("a", "eu", MemoryObjectStore()),
                NamedBackend("b", "cn", MemoryObjectStore())]
    with pytest.raises(InvalidRequest):
        ReplicatedObjectStore(backends, write_quorum=2, allowed_regions=frozenset({"eu"}))


# --- property: acknowledged objects are never lost ------------------------------------------


class ReplicationMachine(RuleBasedStateMachine):
    """Random puts, outages and repairs; every acknowledged object survives."""

    def __init__(self) -> None:
        super().__init__()
        self.store, self.doubles = _flaky()
        self.acknowledged: dict[str, bytes] = {}

    @rule(seed=st.integers(0, 30))
    def put(self, seed: int) -> None:
        object_id, data = sample(ObjectKind.BLOCK, SCOPE_A, seed)
        try:
            self.store.put(ObjectKind.BLOCK, SCOPE_A, object_id, data)
        except Unavailable:
            assert sum(d.down for d in self.doubles) >= 2
            return
        self.acknowledged[object_id] = data

    @rule(index=st.integers(0, 2))
    def backend_down(self, index: int) -> None:
        self.doubles[index].down = True

    @rule(index=st.integers(0, 2))
    def backend_up(self, index: int) -> None:
        self.doubles[index].down = False

    @rule(limit=st.none() | st.integers(0, 5))
    def repair(self, limit: int | None) -> None:
        self.store.repair_pending(limit)

    @invariant()
    def readable_while_at_most_one_backend_is_down(self) -> None:
        if sum(d.down for d in self.doubles) <= 1:  # an acknowledged object has 2+ copies
            for object_id, data in self.acknowledged.items():
                assert self.store.get(ObjectKind.BLOCK, SCOPE_A, object_id) == data

    def teardown(self) -> None:
        for double in self.doubles:
            double.down = False
        self.store.repair_pending()
        for object_id in self.acknowledged:
            assert _copies(self.doubles, ObjectKind.BLOCK, SCOPE_A, object_id) == 3
        assert not self.store.status().degraded
        self.store.close()


ReplicationMachine.TestCase.settings = settings(
    max_examples=40, stateful_step_count=25, deadline=None,
    suppress_health_check=[HealthCheck.too_slow])
test_replication_never_loses_acknowledged_objects = ReplicationMachine.TestCase
