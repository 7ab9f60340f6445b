"""StorageAdmin adapters: status, scrub and repair of one local copy or of replicated copies."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

from sesamedisk.adapters.objects.local import LocalObjectStore
from sesamedisk.adapters.objects.replicated import NamedBackend, ReplicatedObjectStore
from sesamedisk.adapters.objects.replicated_repair import RepairReport, TokenBucket
from sesamedisk.adapters.objects.replicated_state import RepairAction
from sesamedisk.adapters.objects.verifying import content_matches
from sesamedisk.errors import (
    Corrupted,
    InvalidRequest,
    NotFound,
    ObjectNotFound,
    Unavailable,
)
from sesamedisk.ports.objects import ObjectKind, ObjectStore
from sesamedisk.ports.storage import BackendHealth, CopyFinding, ScrubReport, StorageStatus

LOCAL_REGION = "default"
"""The region of the embedded single local copy."""
_PROBE_SCOPE = "00000000-0000-0000-0000-000000000000"
_PROBE_ID = "0" * 40


def _what(kind: ObjectKind, scope: str, object_id: str) -> str:
    return f"{kind.value}/{scope}/{object_id}"


def _ids_of(kind: ObjectKind, scope: str, store: ObjectStore) -> Iterator[str]:
    return store.iter_ids(kind, scope)


def _now() -> int:
    return int(time.time())


class _LastReport:
    """The most recent scrub report, shared between the scrubbing and the asking thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._report: ScrubReport | None = None

    def set(self, report: ScrubReport) -> ScrubReport:
        """Remember `report` and return it."""
        with self._lock:
            self._report = report
        return report

    def get(self) -> ScrubReport | None:
        """The remembered report, if any."""
        with self._lock:
            return self._report


class SingleStoreAdmin:
    """Admin of the embedded default: one local copy, verified on every read, no repair."""

    def __init__(self, local: LocalObjectStore, *, clock: Callable[[], int] = _now) -> None:
        self._local = local
        self._clock = clock
        self._last = _LastReport()

    def _health(self) -> BackendHealth:
        try:
            self._local.exists(ObjectKind.BLOCK, _PROBE_SCOPE, _PROBE_ID)
            error = None if self._local.root.is_dir() else f"{self._local.root} is missing"
        except Unavailable as exc:
            error = exc.message
        return BackendHealth("local", LOCAL_REGION, "local", error is None, error, 0)

    def status(self) -> StorageStatus:
        """One verified local copy; degraded when the disk fails or corrupt objects were found."""
        backend = self._health()
        last = self._last.get()
        lost = last is not None and bool(last.unrecoverable)
        return StorageStatus("one verified local copy", 1, 1, (backend,), 0,
                             not backend.healthy or lost, last)

    def scrub(self, *, repair: bool, max_bytes_per_second: float | None = None,
              scope: str | None = None) -> ScrubReport:
        """Re-hash every object; corrupt ones are unrecoverable (there is no other copy)."""
        report = ScrubReport(started_at=self._clock())
        try:
            if self._health().healthy:
                self._scan(scope, report, TokenBucket(max_bytes_per_second))
            else:
                report.unreachable.append("local")
        except Unavailable:
            report.unreachable.append("local")
        report.finished_at = self._clock()
        return self._last.set(report)

    def _scan(self, scope: str | None, report: ScrubReport, bucket: TokenBucket) -> None:
        scopes = [scope] if scope is not None else sorted(self._local.iter_scopes())
        for each in scopes:
            for kind in ObjectKind:
                for object_id in sorted(self._local.iter_ids(kind, each)):
                    self._check(kind, each, object_id, report, bucket)

    def _check(self, kind: ObjectKind, scope: str, object_id: str, report: ScrubReport,
               bucket: TokenBucket) -> None:
        try:
            data = self._local.get(kind, scope, object_id)
        except ObjectNotFound:
            return  # deleted since it was listed
        bucket.consume(len(data))
        report.objects += 1
        report.copies_checked += 1
        report.bytes_read += len(data)
        if not content_matches(kind, object_id, data):
            key = _what(kind, scope, object_id)
            report.corrupt_copies += 1
            report.problems.append(f"corrupt copy of {key} on backend local")
            report.unrecoverable.append(key)
            report.findings.append(CopyFinding(kind.value, scope, object_id, "local",
                                               "corrupt"))

    def repair_pending(self) -> int:
        """Nothing is ever queued: there is no second copy to repair from."""
        return 0

    def check_regions(self, regions: frozenset[str] | None) -> None:
        """The local disk is in region "default"; other pinnings cannot be stored."""
        if regions is not None and LOCAL_REGION not in regions:
            raise InvalidRequest(f"this server stores objects in region {LOCAL_REGION!r} "
                                 f"only, not in {', '.join(sorted(regions))}")


def _scrub_report(found: RepairReport, started_at: int, finished_at: int) -> ScrubReport:
    unrecoverable = [_what(*key) for key in found.unrecoverable]
    return ScrubReport(
        started_at=started_at, finished_at=finished_at, objects=found.checked,
        copies_checked=found.copies_checked, bytes_read=found.bytes_read,
        missing_copies=found.missing_found, corrupt_copies=found.corrupt_found,
        repaired=found.repaired, unrecoverable=unrecoverable,
        unreachable=sorted(found.unreachable),
        problems=[f"no good copy left of {key}" for key in unrecoverable])


Placed = Callable[[str], frozenset[str] | None]
"""placed(scope): names of the backends meant to hold the scope's copies (None: unknown)."""


class _CopyCheck:
    """A read-only pass over every copy on every backend: finds, never changes."""

    def __init__(self, backends: Sequence[NamedBackend], placed: Placed,
                 hidden: set[tuple[str, ...]], bucket: TokenBucket,
                 report: ScrubReport) -> None:
        self._backends = backends
        self._placed = placed
        self._hidden = hidden
        self._bucket = bucket
        self._report = report

    def _is_hidden(self, kind: ObjectKind, scope: str, object_id: str, backend: str) -> bool:
        return ((kind.value, scope, object_id, backend) in self._hidden
                or ("", scope, "", backend) in self._hidden)

    def _union(self, list_one: Callable[[ObjectStore], Iterable[str]]) -> list[str]:
        union: set[str] = set()
        for backend in self._backends:
            if backend.name in self._report.unreachable:
                continue
            try:
                union.update(list_one(backend.store))
            except Unavailable:
                self._report.unreachable.append(backend.name)
        return sorted(union)

    def run(self, scope: str | None) -> None:
        """Check every object of `scope` (or of every scope) on every reachable backend."""
        scopes = [scope] if scope is not None else self._union(lambda s: s.iter_scopes())
        for each in scopes:
            placed = self._placed(each)
            for kind in ObjectKind:
                for object_id in self._union(functools.partial(_ids_of, kind, each)):
                    self._check_object((kind, each, object_id), placed)

    def _state(self, backend: NamedBackend, key: tuple[ObjectKind, str, str]) -> str:
        try:
            data = backend.store.get(*key)
        except ObjectNotFound:
            return "missing"
        except Corrupted:
            return "corrupt"
        except Unavailable:
            self._report.unreachable.append(backend.name)
            return "down"
        self._bucket.consume(len(data))
        self._report.copies_checked += 1
        self._report.bytes_read += len(data)
        return "good" if content_matches(key[0], key[2], data) else "corrupt"

    def _states(self, key: tuple[ObjectKind, str, str],
                backends: Iterable[NamedBackend]) -> dict[str, str]:
        return {b.name: self._state(b, key) for b in backends
                if b.name not in self._report.unreachable
                and not self._is_hidden(*key, b.name)}

    def _check_object(self, key: tuple[ObjectKind, str, str],
                      placed: frozenset[str] | None) -> None:
        """Placed copies must be good; copies elsewhere only count as repair sources."""
        ours = [b for b in self._backends if placed is None or b.name in placed]
        states = self._states(key, ours)
        if "good" not in states.values():
            states.update(self._states(key, [b for b in self._backends if b not in ours]))
        if all(state in ("missing", "down") for state in states.values()):
            return  # deleted since it was listed, or only on unreachable backends
        report = self._report
        report.objects += 1
        shown = _what(*key)
        for backend in ours:
            state = states.get(backend.name)
            if state == "corrupt" or (state == "missing" and placed is not None):
                report.problems.append(f"{state} copy of {shown} on backend {backend.name}")
                report.findings.append(CopyFinding(key[0].value, key[1], key[2], backend.name,
                                                   state))
                report.missing_copies += state == "missing"
                report.corrupt_copies += state == "corrupt"
        if "good" not in states.values():
            report.unrecoverable.append(shown)
            report.problems.append(f"no good copy left of {shown}")
            report.findings.append(CopyFinding(key[0].value, key[1], key[2], "", "lost"))


class ReplicatedStoreAdmin:
    """Admin of a replicated store: its health and queue, scrubs, and a read-only copy check."""

    def __init__(self, store: ReplicatedObjectStore, backends: Sequence[NamedBackend],
                 kinds: Mapping[str, str], *, clock: Callable[[], int] = _now) -> None:
        self._store = store
        self._backends = tuple(backends)
        self._kinds = dict(kinds)
        self._clock = clock
        self._last = _LastReport()

    def status(self) -> StorageStatus:
        """Copies, quorum, per-backend health and backlog, and the last scrub's findings."""
        replication = self._store.status()
        backends = tuple(
            BackendHealth(b.name, b.region, self._kinds[b.name], b.healthy, b.last_error,
                          b.pending_repairs)
            for b in replication.backends)
        last = self._last.get()
        lost = last is not None and bool(last.unrecoverable)
        mode = (f"{replication.copies} copies on {len(backends)} backends, "
                f"write quorum {replication.write_quorum}")
        return StorageStatus(mode, replication.copies, replication.write_quorum, backends,
                             replication.pending_repairs, replication.degraded or lost, last)

    def scrub(self, *, repair: bool, max_bytes_per_second: float | None = None,
              scope: str | None = None) -> ScrubReport:
        """With `repair`, the store's scrub; without, only report bad or missing copies."""
        started = self._clock()
        if repair:
            found = self._store.scrub(scope, max_bytes_per_second=max_bytes_per_second)
            return self._last.set(_scrub_report(found, started, self._clock()))
        report = ScrubReport(started_at=started)
        _CopyCheck(self._backends, self._placed, self._hidden(),
                   TokenBucket(max_bytes_per_second), report).run(scope)
        report.unreachable = sorted(set(report.unreachable))
        report.finished_at = self._clock()
        return self._last.set(report)

    def _placed(self, scope: str) -> frozenset[str] | None:
        """The scope's placement; None for a scope without a library (orphaned objects)."""
        try:
            return frozenset(self._store.placement(scope))
        except NotFound:
            return None

    def _hidden(self) -> set[tuple[str, ...]]:
        """Copies awaiting deletion: (kind, scope, id, backend), a whole scope with kind ""."""
        return {("" if task.kind is None else task.kind.value, task.scope, task.object_id,
                 task.backend)
                for task in self._store.pending_repairs() if task.action is not RepairAction.COPY}

    def repair_pending(self) -> int:
        """Carry out every queued repair now; how many copies were restored or deleted."""
        return self._store.repair_pending().repaired

    def check_regions(self, regions: frozenset[str] | None) -> None:
        """InvalidRequest when a library pinned to `regions` could not be stored."""
        self._store.check_regions(regions)
