"""StorageAdmin adapters over real local folders: status, scrub, copy checks, regions."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sesamedisk.adapters.objects.local import LocalObjectStore
from sesamedisk.adapters.objects.replicated import NamedBackend, ReplicatedObjectStore
from sesamedisk.adapters.objects.storage_admin import ReplicatedStoreAdmin, SingleStoreAdmin
from sesamedisk.adapters.objects.verifying import content_matches
from sesamedisk.errors import InvalidRequest, ObjectNotFound
from sesamedisk.ports.objects import ObjectKind
from tests.contract.test_object_store import SCOPE_A, SCOPE_B, sample

Key = tuple[ObjectKind, str, str]


def _fill(store: LocalObjectStore | ReplicatedObjectStore, count: int = 6) -> list[Key]:
    """Two objects of each kind per scope (alternating scopes)."""
    keys: list[Key] = []
    for seed in range(count):
        kind = list(ObjectKind)[seed % 3]
        scope = SCOPE_A if seed % 2 == 0 else SCOPE_B
        object_id, data = sample(kind, scope, seed)
        store.put(kind, scope, object_id, data)
        keys.append((kind, scope, object_id))
    return keys


def _object_file(root: Path, key: Key) -> Path:
    kind, scope, object_id = key
    return root / scope / kind.value / object_id[:2] / object_id[2:]


def _flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def _take_offline(root: Path) -> None:
    """A disk that fails: the folder is replaced by a file, so every read raises EIO-like."""
    shutil.rmtree(root)
    root.write_bytes(b"not a folder")


def _good_copy(root: Path, key: Key) -> bool:
    path = _object_file(root, key)
    return path.is_file() and content_matches(key[0], key[2], path.read_bytes())


# --- the embedded default: one verified local copy ------------------------------------------


@pytest.fixture
def local(tmp_path: Path) -> LocalObjectStore:
    return LocalObjectStore(tmp_path / "objects")


def test_single_store_says_one_verified_local_copy(local: LocalObjectStore) -> None:
    status = SingleStoreAdmin(local).status()
    assert status.mode == "one verified local copy"
    assert (status.copies, status.write_quorum, status.pending_repairs) == (1, 1, 0)
    assert [(b.name, b.region, b.kind, b.healthy) for b in status.backends] == [
        ("local", "default", "local", True)]
    assert not status.degraded
    assert status.last_scrub is None


def test_single_store_scrub_finds_corrupt_objects_as_unrecoverable(
        local: LocalObjectStore) -> None:
    admin = SingleStoreAdmin(local)
    keys = _fill(local)
    clean = admin.scrub(repair=True)
    assert (clean.objects, clean.copies_checked, clean.clean) == (len(keys), len(keys), True)
    assert clean.bytes_read == sum(local.size(*key) for key in keys)

    _flip_byte(_object_file(local.root, keys[0]))
    corrupted = _object_file(local.root, keys[0]).read_bytes()
    found = admin.scrub(repair=True)
    shown = f"{keys[0][0].value}/{keys[0][1]}/{keys[0][2]}"
    assert found.corrupt_copies == 1
    assert found.unrecoverable == [shown]
    assert found.problems == [f"corrupt copy of {shown} on backend local"]
    assert found.repaired == 0
    assert _object_file(local.root, keys[0]).read_bytes() == corrupted
    status = admin.status()
    assert status.degraded
    assert status.last_scrub is found


def test_single_store_scrub_of_one_scope(local: LocalObjectStore) -> None:
    keys = _fill(local)
    report = SingleStoreAdmin(local).scrub(repair=False, scope=SCOPE_B)
    assert report.objects == sum(1 for key in keys if key[1] == SCOPE_B)


def test_single_store_scrub_keeps_to_the_rate(local: LocalObjectStore) -> None:
    for seed in range(1, 4):
        block_id, data = sample(ObjectKind.BLOCK, SCOPE_A, seed * 1000)
        local.put(ObjectKind.BLOCK, SCOPE_A, block_id, data)
    total = sum(local.size(ObjectKind.BLOCK, SCOPE_A, i)
                for i in local.iter_ids(ObjectKind.BLOCK, SCOPE_A))
    rate = total / 2.0  # one second of burst, then one more second of reading
    started = time.monotonic()
    report = SingleStoreAdmin(local).scrub(repair=False, max_bytes_per_second=rate)
    assert report.bytes_read == total
    assert time.monotonic() - started >= 0.8


def test_single_store_on_a_failed_disk_is_degraded_and_unreachable(
        local: LocalObjectStore) -> None:
    _fill(local)
    _take_offline(local.root)
    admin = SingleStoreAdmin(local)
    status = admin.status()
    assert status.degraded
    assert not status.backends[0].healthy
    assert status.backends[0].last_error
    report = admin.scrub(repair=True)
    assert report.unreachable == ["local"]
    assert not report.clean


def test_single_store_regions_and_repairs(local: LocalObjectStore) -> None:
    admin = SingleStoreAdmin(local)
    admin.check_regions(None)
    admin.check_regions(frozenset({"default", "eu"}))
    with pytest.raises(InvalidRequest, match="default"):
        admin.check_regions(frozenset({"eu"}))
    assert admin.repair_pending() == 0


# --- replicated copies ------------------------------------------------------------------------


class Replicas:
    """Three (or more) local folders under one replicated store and its admin."""

    def __init__(self, tmp_path: Path, *, copies: int = 3, backends: int = 3,
                 regions: tuple[str, ...] | None = None) -> None:
        self.roots = [tmp_path / f"disk-{i}" for i in range(1, backends + 1)]
        regions = regions or ("default",) * backends
        self.backends = [NamedBackend(root.name, region, LocalObjectStore(root))
                         for root, region in zip(self.roots, regions, strict=True)]
        self.store = ReplicatedObjectStore(self.backends, write_quorum=2, copies=copies)
        self.admin = ReplicatedStoreAdmin(self.store, self.backends,
                                          {b.name: "local" for b in self.backends})

    def good_copies(self, key: Key) -> int:
        return sum(_good_copy(root, key) for root in self.roots)


@pytest.fixture
def replicas(tmp_path: Path) -> Iterator[Replicas]:
    made = Replicas(tmp_path)
    yield made
    made.store.close()


def test_replicated_status_names_copies_quorum_and_backends(replicas: Replicas) -> None:
    status = replicas.admin.status()
    assert status.mode == "3 copies on 3 backends, write quorum 2"
    assert (status.copies, status.write_quorum) == (3, 2)
    assert [(b.name, b.kind, b.healthy, b.pending_repairs) for b in status.backends] == [
        ("disk-1", "local", True, 0), ("disk-2", "local", True, 0), ("disk-3", "local", True, 0)]
    assert not status.degraded


def test_check_only_reports_a_lost_folder_and_changes_nothing(replicas: Replicas) -> None:
    keys = _fill(replicas.store)
    shutil.rmtree(replicas.roots[1])
    report = replicas.admin.scrub(repair=False)
    # A vanished folder is a lost disk, not an empty one: unreachable, no copy judged.
    assert report.unreachable == ["disk-2"]
    assert (report.objects, report.missing_copies, report.corrupt_copies) == (len(keys), 0, 0)
    assert not report.clean
    assert not replicas.roots[1].exists()
    assert replicas.admin.status().last_scrub is report

    replicas.roots[1].mkdir()  # an empty disk takes its place
    report = replicas.admin.scrub(repair=False)
    assert report.objects == len(keys)
    assert report.missing_copies == len(keys)
    assert report.corrupt_copies == 0
    assert report.copies_checked == 2 * len(keys)
    assert not report.clean
    assert sorted(report.problems) == sorted(
        f"missing copy of {k[0].value}/{k[1]}/{k[2]} on backend disk-2" for k in keys)
    assert not any(replicas.roots[1].iterdir())


def test_repairing_scrub_restores_three_verified_copies(replicas: Replicas) -> None:
    keys = _fill(replicas.store)
    shutil.rmtree(replicas.roots[2])
    replicas.roots[2].mkdir()
    _flip_byte(_object_file(replicas.roots[0], keys[0]))
    repaired = replicas.admin.scrub(repair=True)
    assert repaired.missing_copies == len(keys)
    assert repaired.corrupt_copies == 1
    assert repaired.repaired == len(keys) + 1
    assert all(replicas.good_copies(key) == 3 for key in keys)
    assert replicas.admin.scrub(repair=False).clean


def test_check_names_the_corrupt_copy_and_leaves_it(replicas: Replicas) -> None:
    keys = _fill(replicas.store)
    bad = _object_file(replicas.roots[1], keys[0])
    _flip_byte(bad)
    corrupted = bad.read_bytes()
    report = replicas.admin.scrub(repair=False)
    assert report.problems == [
        f"corrupt copy of {keys[0][0].value}/{keys[0][1]}/{keys[0][2]} on backend disk-2"]
    assert (report.corrupt_copies, report.missing_copies, report.unrecoverable) == (1, 0, [])
    assert bad.read_bytes() == corrupted


def test_no_good_copy_left_is_unrecoverable_and_degrades(replicas: Replicas) -> None:
    keys = _fill(replicas.store)
    for root in replicas.roots:
        _flip_byte(_object_file(root, keys[1]))
    report = replicas.admin.scrub(repair=False)
    shown = f"{keys[1][0].value}/{keys[1][1]}/{keys[1][2]}"
    assert report.unrecoverable == [shown]
    assert f"no good copy left of {shown}" in report.problems
    assert replicas.admin.status().degraded


def test_unreachable_backend_is_reported_not_counted_missing(replicas: Replicas) -> None:
    keys = _fill(replicas.store)
    _take_offline(replicas.roots[2])
    report = replicas.admin.scrub(repair=False)
    assert report.unreachable == ["disk-3"]
    assert report.missing_copies == 0
    assert report.objects == len(keys)
    assert not report.clean


def test_check_counts_only_the_placement(tmp_path: Path) -> None:
    replicas = Replicas(tmp_path, copies=2)
    try:
        keys = _fill(replicas.store)
        assert all(not _object_file(replicas.roots[2], key).exists() for key in keys)
        assert replicas.admin.status().mode == "2 copies on 3 backends, write quorum 2"
        assert replicas.admin.scrub(repair=False).clean
        shutil.rmtree(replicas.roots[0] / SCOPE_A)
        report = replicas.admin.scrub(repair=False)
        assert report.missing_copies == sum(1 for key in keys if key[1] == SCOPE_A)
        assert all(line.endswith("on backend disk-1") for line in report.problems)
    finally:
        replicas.store.close()


def test_copy_awaiting_deletion_is_not_reported(replicas: Replicas) -> None:
    keys = _fill(replicas.store)
    offline = replicas.roots[0].with_name("disk-1-offline")
    replicas.roots[0].rename(offline)
    replicas.roots[0].write_bytes(b"disk unplugged")
    replicas.store.delete(*keys[0])
    replicas.roots[0].unlink()
    offline.rename(replicas.roots[0])
    assert _good_copy(replicas.roots[0], keys[0])
    report = replicas.admin.scrub(repair=False)
    assert report.clean, report.problems
    with pytest.raises(ObjectNotFound):
        replicas.store.get(*keys[0])


def test_replicated_regions_are_checked_by_the_store(tmp_path: Path) -> None:
    replicas = Replicas(tmp_path, regions=("eu", "eu", "us"))
    try:
        replicas.admin.check_regions(None)
        replicas.admin.check_regions(frozenset({"eu"}))
        with pytest.raises(InvalidRequest):
            replicas.admin.check_regions(frozenset({"us"}))  # one backend, quorum 2
        with pytest.raises(InvalidRequest):
            replicas.admin.check_regions(frozenset({"mars"}))
    finally:
        replicas.store.close()


def test_repair_pending_restores_what_a_failed_write_queued(replicas: Replicas) -> None:
    _take_offline(replicas.roots[1])
    keys = _fill(replicas.store)
    status = replicas.admin.status()
    assert status.degraded
    assert status.backends[1].pending_repairs == len(keys)
    assert not status.backends[1].healthy
    replicas.roots[1].unlink()
    replicas.roots[1].mkdir()
    assert replicas.admin.repair_pending() == len(keys)
    assert all(replicas.good_copies(key) == 3 for key in keys)
    assert not replicas.admin.status().degraded
