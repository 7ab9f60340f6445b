"""The replicated ObjectStore: the full store contract, plus failure, repair and residency."""

from __future__ import annotations

import contextlib
import inspect
import itertools
import shutil
from collections.abc import Iterable, Iterator, Sequence
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
    RegionsFor,
    RepairJournal,
    ReplicatedObjectStore,
)
from sesamedisk.adapters.objects.replicated_repair import TokenBucket
from sesamedisk.adapters.objects.verifying import content_matches
from sesamedisk.errors import (
    Corrupted,
    InvalidRequest,
    LibraryNotFound,
    ObjectNotFound,
    Unavailable,
)
from sesamedisk.ports.objects import ObjectKind, ObjectStat, ObjectStore, ObjectWriter
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
    assert len(IMPORTED) == 24  # 20 store + 4 writer contract tests today
    assert "test_round_trip" in IMPORTED
    assert "test_streamed_object_reads_back_exactly" in IMPORTED


# --- test doubles -------------------------------------------------------------------------


class FlakyStore:
    """Wraps a store; while `down`, every call raises Unavailable. Notes the scopes written."""

    def __init__(self, inner: ObjectStore | None = None) -> None:
        self.inner: ObjectStore = inner or MemoryObjectStore()
        self.down = False
        self.written: list[str] = []

    def _check(self) -> None:
        if self.down:
            raise Unavailable("backend is down (test)")

    def put(self, kind: ObjectKind, scope: str, object_id: str, data: bytes) -> None:
        self._check()
        self.written.append(scope)
        self.inner.put(kind, scope, object_id, data)

    def open_writer(self, kind: ObjectKind, scope: str) -> ObjectWriter:
        self._check()
        self.written.append(scope)
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

    def iter_stats(self, kind: ObjectKind, scope: str) -> Iterator[ObjectStat]:
        self._check()
        return self.inner.iter_stats(kind, scope)

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


def flaky(regions: tuple[str, ...] = ("eu", "eu", "eu"), *, copies: int | None = None,
          regions_for: RegionsFor | None = None, inner: Sequence[ObjectStore] | None = None,
          journal: RepairJournal | None = None
          ) -> tuple[ReplicatedObjectStore, list[FlakyStore]]:
    """A store over FlakyStores (around `inner` stores, or new memory ones), quorum 2."""
    doubles = [FlakyStore(inner[i] if inner else None) for i in range(len(regions))]
    backends = [NamedBackend(f"b{i}", regions[i], d) for i, d in enumerate(doubles)]
    return ReplicatedObjectStore(backends, write_quorum=2, copies=copies,
                                 regions_for=regions_for, journal=journal), doubles


def good_copies(doubles: list[FlakyStore], kind: ObjectKind, scope: str, object_id: str) -> int:
    """How many of the doubles hold a copy that matches its id."""
    good = 0
    for double in doubles:
        with contextlib.suppress(ObjectNotFound):
            good += content_matches(kind, object_id, double.inner.get(kind, scope, object_id))
    return good


def objects_of(count: int, scope: str = SCOPE_A) -> list[tuple[ObjectKind, str, bytes]]:
    """`count` sample objects of every kind in turn: (kind, id, bytes)."""
    kinds = list(ObjectKind)
    return [(kinds[i % 3], *sample(kinds[i % 3], scope, i)) for i in range(count)]


# --- failures -------------------------------------------------------------------------------


def test_one_backend_down_degrades_and_repair_restores_three_copies() -> None:
    store, doubles = flaky()
    doubles[1].down = True
    objects = objects_of(6)
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
        assert good_copies(doubles, kind, SCOPE_A, object_id) == 2
    report = store.repair_pending()
    assert report.deferred == 6  # still down: nothing lost, all still queued
    doubles[1].down = False
    report = store.repair_pending()
    assert report.repaired == 6
    for kind, object_id, _ in objects:
        assert good_copies(doubles, kind, SCOPE_A, object_id) == 3
    assert not store.status().degraded
    store.close()


def test_two_backends_down_refuses_puts() -> None:
    store, doubles = flaky()
    doubles[0].down = doubles[2].down = True
    kind, object_id, data = objects_of(1)[0]
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
    assert good_copies(doubles, kind, SCOPE_A, object_id) == 3
    store.close()


def test_backend_failing_mid_stream_is_dropped_and_repaired() -> None:
    store, doubles = flaky()
    writer = store.open_writer(ObjectKind.BLOCK, SCOPE_A)
    writer.write(b"first half, ")
    doubles[2].down = True
    writer.write(b"second half")
    block_id = writer.digest
    writer.commit(block_id)
    assert good_copies(doubles, ObjectKind.BLOCK, SCOPE_A, block_id) == 2
    doubles[2].down = False
    store.repair_pending()
    assert good_copies(doubles, ObjectKind.BLOCK, SCOPE_A, block_id) == 3
    doubles[0].down = doubles[1].down = True
    with pytest.raises(Unavailable):
        store.open_writer(ObjectKind.BLOCK, SCOPE_A)
    store.close()


def test_missing_copy_found_by_check_is_queued_and_absent_on_all_is_missing() -> None:
    store, doubles = flaky()
    kind, object_id, data = objects_of(1)[0]
    store.put(kind, SCOPE_A, object_id, data)
    doubles[0].inner.delete(kind, SCOPE_A, object_id)
    assert store.missing(kind, SCOPE_A, [object_id]) == []
    assert store.status().pending_repairs == 1
    store.repair_pending()
    assert good_copies(doubles, kind, SCOPE_A, object_id) == 3
    store.delete(kind, SCOPE_A, object_id)
    assert store.missing(kind, SCOPE_A, [object_id]) == [object_id]
    store.close()


def test_delete_while_a_backend_is_down_never_resurrects() -> None:
    store, doubles = flaky()
    kind, object_id, data = objects_of(1)[0]
    store.put(kind, SCOPE_A, object_id, data)
    doubles[0].down = True
    store.delete(kind, SCOPE_A, object_id)
    doubles[0].down = False
    with pytest.raises(ObjectNotFound):
        store.get(kind, SCOPE_A, object_id)
    assert store.missing(kind, SCOPE_A, [object_id]) == [object_id]
    assert list(store.iter_ids(kind, SCOPE_A)) == []
    store.repair_pending()
    assert good_copies(doubles, kind, SCOPE_A, object_id) == 0
    store.close()


def test_flush_and_size_with_one_backend_down() -> None:
    store, doubles = flaky()
    kind, object_id, data = objects_of(1)[0]
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
    store, doubles = flaky()
    objects = objects_of(3)
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
    objects = objects_of(9)
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


def test_a_vanished_backend_folder_stays_unhealthy_until_it_returns(
        local_backends: tuple[ReplicatedObjectStore, list[LocalObjectStore]]) -> None:
    store, locals_ = local_backends
    objects = objects_of(3)
    for kind, object_id, data in objects[:2]:
        store.put(kind, SCOPE_A, object_id, data)
    shutil.rmtree(locals_[0].root)
    kind, object_id, data = objects[2]
    store.put(kind, SCOPE_A, object_id, data)  # quorum 2 of 3 still holds
    for _ in range(3):  # probes of a missing folder must not pass for a healthy, empty disk
        store.check_health()
        l0 = store.status().backends[0]
        assert (l0.name, l0.healthy) == ("l0", False)
    for kind, object_id, data in objects:
        assert store.get(kind, SCOPE_A, object_id) == data
    locals_[0].root.mkdir()
    store.repair_pending()
    assert store.status().backends[0].healthy
    store.scrub()
    for kind, object_id, _ in objects:
        assert _local_copies(locals_, kind, object_id) == 3


def test_scrub_alone_restores_a_lost_backend(
        local_backends: tuple[ReplicatedObjectStore, list[LocalObjectStore]]) -> None:
    store, locals_ = local_backends
    objects = objects_of(6)
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


# --- placement and residency --------------------------------------------------------------

EU = frozenset({"eu"})


def _a_in_eu(scope: str) -> frozenset[str] | None:
    """SCOPE_A is pinned to eu; any other scope may go anywhere."""
    return EU if scope == SCOPE_A else None


def _holders(doubles: list[FlakyStore], kind: ObjectKind, scope: str,
             object_id: str) -> set[str]:
    return {f"b{i}" for i, d in enumerate(doubles) if d.inner.exists(kind, scope, object_id)}


def test_placement_is_the_first_copies_backends_of_the_allowed_regions() -> None:
    store, doubles = flaky(("eu", "cn", "eu", "eu"), copies=2, regions_for=_a_in_eu)
    assert store.placement(SCOPE_A) == ("b0", "b2")
    assert store.placement(SCOPE_B) == ("b0", "b1")
    assert store.status().copies == 2
    for scope, placed in ((SCOPE_A, {"b0", "b2"}), (SCOPE_B, {"b0", "b1"})):
        object_id, data = sample(ObjectKind.BLOCK, scope, 7)
        store.put(ObjectKind.BLOCK, scope, object_id, data)
        assert _holders(doubles, ObjectKind.BLOCK, scope, object_id) == placed
    doubles[3].down = True  # in no placement written to: flush does not need it
    store.flush()
    doubles[2].down = True  # SCOPE_A's objects would be durable on b0 only
    with pytest.raises(Unavailable):
        store.flush()
    store.close()


def test_regions_are_asked_once_per_scope() -> None:
    asked: list[str] = []

    def regions_for(scope: str) -> frozenset[str] | None:
        asked.append(scope)
        return EU

    store, _ = flaky(regions_for=regions_for)
    for kind, object_id, data in objects_of(3):
        store.put(kind, SCOPE_A, object_id, data)
    assert store.placement(SCOPE_A) == ("b0", "b1", "b2")
    assert asked == [SCOPE_A]
    store.close()


def test_a_scope_without_regions_is_written_nowhere() -> None:
    def regions_for(scope: str) -> frozenset[str] | None:
        raise LibraryNotFound(f"no library {scope}")

    store, doubles = flaky(regions_for=regions_for)
    kind, object_id, data = objects_of(1)[0]
    with pytest.raises(LibraryNotFound):
        store.put(kind, SCOPE_A, object_id, data)
    with pytest.raises(LibraryNotFound):
        store.open_writer(kind, SCOPE_A)
    assert all(d.written == [] for d in doubles)
    doubles[2].inner.put(kind, SCOPE_A, object_id, data)  # e.g. left over by a purge
    assert store.get(kind, SCOPE_A, object_id) == data  # reading moves no bytes
    report = store.scrub()
    assert report.unplaced == {SCOPE_A}
    assert (report.missing_found, report.repaired) == (0, 0)
    assert all(d.written == [] for d in doubles)
    store.close()


def test_region_sets_that_cannot_reach_the_quorum_are_refused() -> None:
    store, doubles = flaky(("eu", "eu", "cn"), regions_for=lambda scope: frozenset({"cn"}))
    store.check_regions(None)
    store.check_regions(EU)
    store.check_regions(frozenset({"eu", "cn"}))
    for regions in ({"cn"}, {"mars"}, {"eu", "mars"}, set()):
        with pytest.raises(InvalidRequest):
            store.check_regions(frozenset(regions))
    kind, object_id, data = objects_of(1)[0]
    with pytest.raises(InvalidRequest):  # only one cn backend, quorum 2
        store.put(kind, SCOPE_A, object_id, data)
    assert all(d.written == [] for d in doubles)
    store.close()
    backends = [NamedBackend(n, "eu", MemoryObjectStore()) for n in "abc"]
    for quorum, copies in ((2, 1), (2, 4), (0, 2)):
        with pytest.raises(InvalidRequest):
            ReplicatedObjectStore(backends, write_quorum=quorum, copies=copies)
    with pytest.raises(InvalidRequest):
        ReplicatedObjectStore([backends[0], backends[0]], write_quorum=1)


def test_an_eu_scope_never_gets_a_byte_on_a_cn_backend() -> None:
    store, doubles = flaky(("eu", "eu", "cn", "eu"), copies=3, regions_for=_a_in_eu)
    cn = doubles[2]
    assert store.placement(SCOPE_A) == ("b0", "b1", "b3")
    objects = objects_of(6)
    for kind, object_id, data in [*objects[:3], *objects_of(3, SCOPE_B)]:
        store.put(kind, SCOPE_A if (kind, object_id, data) in objects else SCOPE_B,
                  object_id, data)
    writer = store.open_writer(ObjectKind.BLOCK, SCOPE_A)
    writer.write(b"streamed into eu")
    writer.commit(writer.digest)
    streamed = (ObjectKind.BLOCK, writer.digest)
    doubles[0].down = True
    for kind, object_id, data in objects[3:]:
        store.put(kind, SCOPE_A, object_id, data)
    doubles[0].inner = MemoryObjectStore()  # b0 comes back wiped
    doubles[0].down = False
    for kind, object_id, _ in objects:
        assert store.missing(kind, SCOPE_A, [object_id]) == []
    assert store.repair_pending().repaired == 6
    legacy_id, legacy = sample(ObjectKind.BLOCK, SCOPE_A, 77)
    cn.inner.put(ObjectKind.BLOCK, SCOPE_A, legacy_id, legacy)  # a copy already there
    doubles[3].inner.delete(objects[0][0], SCOPE_A, objects[0][1])
    report = store.scrub(SCOPE_A)
    assert report.outside_placement == 1
    # the streamed block on b0, objects[0] on b3, the legacy block on b0, b1 and b3
    assert (report.missing_found, report.repaired, report.unrecoverable) == (5, 5, [])
    assert SCOPE_A not in cn.written
    assert SCOPE_B in cn.written  # cn is in use, by scopes that allow it
    assert [(k, i) for k in ObjectKind for i in cn.inner.iter_ids(k, SCOPE_A)] == [
        (ObjectKind.BLOCK, legacy_id)]
    eu = [doubles[i] for i in (0, 1, 3)]
    for kind, object_id in [*((k, i) for k, i, _ in objects), streamed,
                            (ObjectKind.BLOCK, legacy_id)]:
        assert good_copies(eu, kind, SCOPE_A, object_id) == 3
    store.close()


# --- iter_stats -----------------------------------------------------------------------------


def test_iter_stats_is_the_union_with_the_newest_store_time() -> None:
    clocks = (100.0, 300.0, 200.0)
    store, doubles = flaky(inner=[MemoryObjectStore(clock=itertools.repeat(t).__next__)
                                   for t in clocks])
    everywhere, only_b0, deleted = (sample(ObjectKind.BLOCK, SCOPE_A, i) for i in (1, 2, 3))
    store.put(ObjectKind.BLOCK, SCOPE_A, *everywhere)
    doubles[0].inner.put(ObjectKind.BLOCK, SCOPE_A, *only_b0)
    store.put(ObjectKind.BLOCK, SCOPE_A, *deleted)
    doubles[1].down = True
    store.delete(ObjectKind.BLOCK, SCOPE_A, deleted[0])  # b1's copy is now a tombstone

    def stats() -> dict[str, tuple[int, float]]:
        return {s.object_id: (s.size, s.stored_at)
                for s in store.iter_stats(ObjectKind.BLOCK, SCOPE_A)}

    assert stats() == {everywhere[0]: (len(everywhere[1]), 200.0),
                       only_b0[0]: (len(only_b0[1]), 100.0)}
    doubles[1].down = False
    assert stats()[everywhere[0]] == (len(everywhere[1]), 300.0)
    assert deleted[0] not in stats()
    assert set(store.iter_ids(ObjectKind.BLOCK, SCOPE_A)) == set(stats())
    for double in doubles:
        double.down = True
    with pytest.raises(Unavailable):
        store.iter_stats(ObjectKind.BLOCK, SCOPE_A)
    store.close()


# --- property: acknowledged objects are never lost ------------------------------------------


class ReplicationMachine(RuleBasedStateMachine):
    """Random puts, outages and repairs; every acknowledged object survives."""

    def __init__(self) -> None:
        super().__init__()
        self.store, self.doubles = flaky()
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
            assert good_copies(self.doubles, ObjectKind.BLOCK, SCOPE_A, object_id) == 3
        assert not self.store.status().degraded
        self.store.close()


ReplicationMachine.TestCase.settings = settings(
    max_examples=40, stateful_step_count=25, deadline=None,
    suppress_health_check=[HealthCheck.too_slow])
test_replication_never_loses_acknowledged_objects = ReplicationMachine.TestCase
