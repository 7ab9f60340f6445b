"""ObjectStore replicated over several backends: quorum writes, verified reads, repair, scrub."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO, TypeVar

from sesamedisk.adapters.objects.keys import (
    validate_key,
    validate_kind,
    validate_object_id,
    validate_scope,
)
from sesamedisk.adapters.objects.replicated_placement import Placement, RegionsFor
from sesamedisk.adapters.objects.replicated_repair import Repairer, RepairReport
from sesamedisk.adapters.objects.replicated_state import (
    BAD,
    DOWN,
    MISSING,
    NamedBackend,
    ObjectKey,
    RepairAction,
    RepairJournal,
    RepairQueue,
    RepairTask,
    ReplicaSet,
    done,
    what,
)
from sesamedisk.adapters.objects.replicated_writer import Live, ReplicatedObjectWriter
from sesamedisk.adapters.objects.verifying import content_matches
from sesamedisk.domain.codec import sha1_hex
from sesamedisk.errors import Corrupted, InvalidRequest, ObjectNotFound, Unavailable
from sesamedisk.ports.objects import (
    ObjectKind,
    ObjectStat,
    ObjectStore,
    ObjectWriter,
    UnhashedWrites,
)

__all__ = ["NamedBackend", "RegionsFor", "RepairJournal", "RepairReport",
           "ReplicatedObjectStore", "ReplicationStatus"]

T = TypeVar("T")


@dataclass(frozen=True)
class BackendStatus:
    """Health and backlog of one backend."""

    name: str
    region: str
    healthy: bool
    last_error: str | None
    pending_repairs: int


@dataclass(frozen=True)
class ReplicationStatus:
    """The visible state of a replicated store."""

    write_quorum: int
    copies: int
    """How many backends hold each object (fewer when its regions hold fewer backends)."""
    backends: tuple[BackendStatus, ...]

    @property
    def pending_repairs(self) -> int:
        """Queued repairs over all backends."""
        return sum(b.pending_repairs for b in self.backends)

    @property
    def degraded(self) -> bool:
        """True when a backend is down or any copy awaits repair."""
        return any(not b.healthy or b.pending_repairs for b in self.backends)


def _backend_writer(store: ObjectStore, kind: ObjectKind, scope: str) -> ObjectWriter:
    """A backend's writer; one that does not hash when it can (the replicated writer does)."""
    if isinstance(store, UnhashedWrites):
        return store.open_unhashed_writer(kind, scope)
    return store.open_writer(kind, scope)


class ReplicatedObjectStore:
    """Each object on its scope's placement; acknowledged once `write_quorum` stored it.

    A scope's placement is the first `copies` backends, in configured order, whose region
    `regions_for(scope)` allows; nothing is ever written outside it. Reads verify bytes
    against the id and fall back to the next copy on any backend; every missing or bad copy
    found is queued for repair, and recorded in `journal` (reloaded here) when one is given.
    See docs/adr/0008-replicated-store.md.
    """

    def __init__(self, backends: Sequence[NamedBackend], *, write_quorum: int,
                 copies: int | None = None, regions_for: RegionsFor | None = None,
                 journal: RepairJournal | None = None,
                 max_workers: int | None = None) -> None:
        placement = Placement(backends, copies=copies, quorum=write_quorum,
                              regions_for=regions_for)
        queue = RepairQueue(journal)
        queue.reload()
        self._r = ReplicaSet(backends, placement, queue, max_workers)
        self._repairer = Repairer(self._r)

    # --- plumbing ---------------------------------------------------------------------

    def close(self) -> None:
        """Stop the worker threads (waits for calls in flight)."""
        self._r.pool.shutdown(wait=True)

    def __enter__(self) -> ReplicatedObjectStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def placement(self, scope: str) -> tuple[str, ...]:
        """Names of the backends that hold the scope's copies, in configured order."""
        return tuple(b.name for b in self._r.placement.of(validate_scope(scope)))

    def check_regions(self, regions: frozenset[str] | None) -> None:
        """InvalidRequest unless a library pinned to `regions` can be written here."""
        self._r.placement.check(regions)

    def _run_writers(self, live: Live,
                     call: Callable[[ObjectWriter], None]) -> tuple[list[str], list[str]]:
        by_name = {b.name: b for b in self._r.backends}
        writers = dict(live)
        results = self._r.fan_out([by_name[n] for n, _ in live],
                                  lambda b: done(call, writers[b.name]))
        acked = [b.name for b, r in results if r]
        return acked, [n for n, _ in live if n not in acked]

    def _targets(self, scope: str) -> tuple[tuple[NamedBackend, ...], list[NamedBackend]]:
        """The scope's placement, and those of it to write now (not awaiting a scope delete)."""
        placement = self._r.placement.writing_to(scope)
        return placement, [b for b in placement if not self._r.queue.scope_hidden(scope, b.name)]

    def _settle(self, key: ObjectKey, placement: Sequence[NamedBackend],
                acked: list[str]) -> None:
        """After a write: forget repairs the write did, queue (durably) the ones it did not."""
        self._r.queue.discard(key, acked)
        if acked:
            self._r.queue_copies(key, [b.name for b in placement if b.name not in acked])
        if len(acked) < self._r.quorum:
            raise Unavailable(f"only {len(acked)} of {self._r.quorum} required backends "
                              f"stored {what(key)}")

    def put(self, kind: ObjectKind, scope: str, object_id: str, data: bytes) -> None:
        """Store on the scope's placement; InvalidRequest if `data` is not the object."""
        checked = validate_key(kind, scope, object_id)
        if not content_matches(checked, object_id, data):
            raise InvalidRequest(f"{checked.value} object {object_id} does not match "
                                 "its content")
        self._put_checked(checked, scope, object_id, data)

    def put_block(self, scope: str, data: bytes) -> str:
        """Store `data` as a block under the SHA-1 computed here, once for every copy."""
        block_id = sha1_hex(data)
        self._put_checked(ObjectKind.BLOCK, validate_scope(scope), block_id, data)
        return block_id

    def _put_checked(self, kind: ObjectKind, scope: str, object_id: str, data: bytes) -> None:
        """Write bytes known to be the object to its placement; Unavailable below quorum."""
        placement, targets = self._targets(scope)
        payload = bytes(data)
        results = self._r.fan_out(targets, lambda b: done(b.store.put, kind, scope,
                                                          object_id, payload))
        self._settle((kind, scope, object_id), placement, [b.name for b, r in results if r])

    def open_writer(self, kind: ObjectKind, scope: str) -> ReplicatedObjectWriter:
        """Stream into a writer on every backend of the scope's placement at once."""
        checked = validate_kind(kind)
        placement, targets = self._targets(validate_scope(scope))
        opened = self._r.fan_out(targets, lambda b: _backend_writer(b.store, checked, scope))
        live: Live = [(b.name, w) for b, w in opened if w is not None]
        if len(live) < self._r.quorum:
            for _, writer in live:
                writer.abort()
            raise Unavailable(f"only {len(live)} of {self._r.quorum} required backends can "
                              f"store a new {checked.value[:-1]} object")
        return ReplicatedObjectWriter(
            checked, live, quorum=self._r.quorum, run_all=self._run_writers,
            settle=lambda object_id, acked: self._settle((checked, scope, object_id),
                                                         placement, acked))

    def flush(self) -> None:
        """Flush every placement written to; Unavailable when one has fewer than quorum."""
        placements = self._r.placement.written()
        backends = list({b.name: b for p in placements for b in p}.values())
        results = self._r.fan_out(backends, lambda b: done(b.store.flush))
        flushed = {b.name for b, r in results if r}
        for placement in placements:
            count = sum(1 for b in placement if b.name in flushed)
            if count < self._r.quorum:
                raise Unavailable(f"only {count} of {self._r.quorum} required backends "
                                  "flushed")

    def delete(self, kind: ObjectKind, scope: str, object_id: str) -> None:
        """Delete on every backend; an unreachable copy is hidden and deleted by repair."""
        checked = validate_key(kind, scope, object_id)
        results = self._r.fan_out(self._r.backends,
                                  lambda b: done(b.store.delete, checked, scope, object_id))
        self._r.queue.discard((checked, scope, object_id), [b.name for b, r in results if r])
        self._r.queue.add_many(
            RepairTask(RepairAction.DELETE, checked, scope, object_id, backend.name)
            for backend, result in results if not result)

    def delete_scope(self, scope: str) -> None:
        """Delete a scope on every backend; unreachable ones are hidden and done by repair."""
        validate_scope(scope)
        results = self._r.fan_out(self._r.backends, lambda b: done(b.store.delete_scope, scope))
        self._r.queue.discard_scope(scope, [b.name for b, r in results if r])
        self._r.queue.add_many(RepairTask(RepairAction.DELETE_SCOPE, None, scope, "", b.name)
                               for b, result in results if not result)

    # --- reads ------------------------------------------------------------------------

    def get(self, kind: ObjectKind, scope: str, object_id: str) -> bytes:
        """The first copy that matches its id, healthy backends first.

        Unavailable if no good copy was found and some backend could not be asked;
        Corrupted if copies exist but all are bad; ObjectNotFound if none has it.
        """
        key = (validate_key(kind, scope, object_id), scope, object_id)
        seen: dict[str, list[str]] = {BAD: [], MISSING: [], DOWN: []}
        for backend in self._r.read_order():
            if self._r.queue.hidden(key, backend.name):
                continue
            state, data = self._r.inspect(backend, key)
            if data is not None:
                self._r.queue_copies(key, seen[BAD] + seen[MISSING])
                return data
            seen[state].append(backend.name)
        if seen[DOWN]:
            raise Unavailable(f"no good copy of {what(key)} on the reachable backends "
                              f"(unreachable: {', '.join(seen[DOWN])})")
        if seen[BAD]:
            raise Corrupted(f"every stored copy of {what(key)} does not match its id")
        raise ObjectNotFound(f"object {what(key)} is not stored")

    def open_read(self, kind: ObjectKind, scope: str, object_id: str) -> BinaryIO:
        """A stream over the verified bytes `get` returns (read whole, then served)."""
        return io.BytesIO(self.get(kind, scope, object_id))

    def exists(self, kind: ObjectKind, scope: str, object_id: str) -> bool:
        """True when at least one reachable backend holds a (not tombstoned) copy."""
        validate_key(kind, scope, object_id)
        return not self.missing(kind, scope, [object_id])

    def missing(self, kind: ObjectKind, scope: str, object_ids: Iterable[str]) -> list[str]:
        """Ids no reachable backend holds; under-replicated ones are queued for repair.

        Unavailable when no backend answers at all.
        """
        checked = validate_kind(kind)
        validate_scope(scope)
        wanted = list(dict.fromkeys(object_ids))
        for object_id in wanted:
            validate_object_id(object_id)
        if not wanted:
            return []
        results = self._r.fan_out(self._r.backends,
                                  lambda b: set(b.store.missing(checked, scope, wanted)))
        answered = [(b, absent) for b, absent in results if absent is not None]
        if not answered:
            raise Unavailable(f"no backend could tell which objects of {scope} are stored")
        result = []
        for object_id in wanted:
            key = (checked, scope, object_id)
            if any(object_id not in absent and not self._r.queue.hidden(key, b.name)
                   for b, absent in answered):
                self._r.queue_copies(key, [b.name for b, absent in answered
                                           if object_id in absent])
            else:
                result.append(object_id)
        return result

    def size(self, kind: ObjectKind, scope: str, object_id: str) -> int:
        """The size the copies agree on; if they disagree, the size of the verified bytes."""
        key = (validate_key(kind, scope, object_id), scope, object_id)

        def size_of(backend: NamedBackend) -> int:
            if self._r.queue.hidden(key, backend.name):
                return -1
            try:
                return backend.store.size(*key)
            except ObjectNotFound:
                return -1

        results = self._r.fan_out(self._r.backends, size_of)
        sizes = {r for _, r in results if r is not None and r >= 0}
        if len(sizes) == 1:
            return sizes.pop()
        if not sizes and all(r is not None for _, r in results):
            raise ObjectNotFound(f"object {what(key)} is not stored")
        return len(self.get(*key))

    def _listed(self, list_one: Callable[[NamedBackend], list[T]],
                subject: str) -> list[tuple[NamedBackend, list[T]]]:
        """What each reachable backend lists; Unavailable when none answered."""
        results = self._r.fan_out(self._r.backends, list_one)
        answered = [(backend, items) for backend, items in results if items is not None]
        if not answered:
            raise Unavailable(f"no backend could list {subject}")
        return answered

    def iter_ids(self, kind: ObjectKind, scope: str) -> Iterator[str]:
        """Every id any reachable backend holds for (kind, scope) (a snapshot)."""
        checked = validate_kind(kind)
        validate_scope(scope)
        union: dict[str, None] = {}
        for backend, ids in self._listed(lambda b: list(b.store.iter_ids(checked, scope)),
                                         f"ids of {scope}"):
            union.update((i, None) for i in ids
                         if not self._r.queue.hidden((checked, scope, i), backend.name))
        return iter(union)

    def iter_stats(self, kind: ObjectKind, scope: str) -> Iterator[ObjectStat]:
        """Every object any reachable backend holds, with its copies' newest store time.

        The newest, so that garbage collection treats an object as young if any copy is.
        """
        checked = validate_kind(kind)
        validate_scope(scope)
        newest: dict[str, ObjectStat] = {}
        for backend, stats in self._listed(lambda b: list(b.store.iter_stats(checked, scope)),
                                           f"objects of {scope}"):
            for stat in stats:
                if self._r.queue.hidden((checked, scope, stat.object_id), backend.name):
                    continue
                seen = newest.get(stat.object_id)
                if seen is None or stat.stored_at > seen.stored_at:
                    newest[stat.object_id] = stat
        return iter(newest.values())

    def iter_scopes(self) -> Iterator[str]:
        """Every scope some reachable backend holds objects of (a snapshot)."""
        union: dict[str, None] = {}
        for backend, scopes in self._listed(lambda b: list(b.store.iter_scopes()), "scopes"):
            union.update((s, None) for s in scopes
                         if not self._r.queue.scope_hidden(s, backend.name))
        return iter(union)

    # --- health and repair ----------------------------------------------------------

    def status(self) -> ReplicationStatus:
        """Health and pending repairs per backend, and the copies target."""
        counts = self._r.queue.counts()
        return ReplicationStatus(self._r.quorum, self._r.placement.copies, tuple(
            BackendStatus(b.name, b.region, self._r.health.healthy(b.name),
                          self._r.health.last_error(b.name), counts.get(b.name, 0))
            for b in self._r.backends))

    def pending_repairs(self) -> list[RepairTask]:
        """A snapshot of the repair queue."""
        return self._r.queue.snapshot()

    def check_health(self) -> None:
        """Probe every backend marked unhealthy with one cheap call (an `exists`)."""
        self._repairer.check_health()

    def repair_pending(self, limit: int | None = None) -> RepairReport:
        """Reload the journal, then carry out up to `limit` queued repairs.

        Backends marked unhealthy are probed first, so a recovered one shows healthy;
        repairs whose target is unreachable stay queued.
        """
        return self._repairer.repair_pending(limit)

    def scrub(self, scope: str | None = None, *,
              max_bytes_per_second: float | None = None) -> RepairReport:
        """Read and verify every copy of every object (of one scope, or all) and repair."""
        return self._repairer.scrub(scope, max_bytes_per_second=max_bytes_per_second)
