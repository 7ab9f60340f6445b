"""ObjectStore replicated over several backends: quorum writes, verified reads, repair, scrub."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO

from sesamedisk.adapters.objects.keys import (
    validate_key,
    validate_kind,
    validate_object_id,
    validate_scope,
)
from sesamedisk.adapters.objects.replicated_repair import Repairer, RepairReport
from sesamedisk.adapters.objects.replicated_state import (
    BAD,
    DOWN,
    MISSING,
    NamedBackend,
    ObjectKey,
    RepairAction,
    RepairTask,
    ReplicaSet,
    done,
    what,
)
from sesamedisk.adapters.objects.replicated_writer import Live, ReplicatedObjectWriter
from sesamedisk.adapters.objects.verifying import content_matches
from sesamedisk.errors import Corrupted, InvalidRequest, ObjectNotFound, Unavailable
from sesamedisk.ports.objects import ObjectKind, ObjectWriter

__all__ = ["NamedBackend", "RepairReport", "ReplicatedObjectStore", "ReplicationStatus"]


@dataclass(frozen=True)
class BackendStatus:
    """Health and backlog of one backend."""

    name: str
    region: str
    healthy: bool
    writable: bool
    last_error: str | None
    pending_repairs: int


@dataclass(frozen=True)
class ReplicationStatus:
    """The visible state of a replicated store."""

    write_quorum: int
    backends: tuple[BackendStatus, ...]

    @property
    def pending_repairs(self) -> int:
        """Queued repairs over all backends."""
        return sum(b.pending_repairs for b in self.backends)

    @property
    def degraded(self) -> bool:
        """True when a backend is down or any copy awaits repair."""
        return any(not b.healthy or b.pending_repairs for b in self.backends)


class ReplicatedObjectStore:
    """Every object on every allowed backend; acknowledged once `write_quorum` stored it.

    Reads verify bytes against the id and fall back to the next copy; every missing or bad
    copy found is queued for repair. See docs/adr/0008-replicated-store.md.
    """

    def __init__(self, backends: Sequence[NamedBackend], *, write_quorum: int,
                 allowed_regions: frozenset[str] | None = None,
                 max_workers: int | None = None) -> None:
        names = [b.name for b in backends]
        if not backends or len(set(names)) != len(names):
            raise InvalidRequest("replicated store needs backends with unique names")
        if write_quorum < 1:
            raise InvalidRequest("write quorum must be at least 1")
        writable = [b for b in backends
                    if allowed_regions is None or b.region in allowed_regions]
        if len(writable) < write_quorum:
            raise InvalidRequest(f"only {len(writable)} backends are in the allowed "
                                 f"regions, fewer than the write quorum {write_quorum}")
        self._r = ReplicaSet(backends, writable, write_quorum, max_workers)
        self._repairer = Repairer(self._r)

    # --- plumbing ---------------------------------------------------------------------

    def close(self) -> None:
        """Stop the worker threads (waits for calls in flight)."""
        self._r.pool.shutdown(wait=True)

    def __enter__(self) -> ReplicatedObjectStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run_writers(self, live: Live,
                     call: Callable[[ObjectWriter], None]) -> tuple[list[str], list[str]]:
        by_name = {b.name: b for b in self._r.backends}
        writers = dict(live)
        results = self._r.fan_out([by_name[n] for n, _ in live],
                                  lambda b: done(call, writers[b.name]))
        acked = [b.name for b, r in results if r]
        return acked, [n for n, _ in live if n not in acked]

    def _settle(self, key: ObjectKey, acked: list[str], failed: list[str]) -> None:
        """After a write: forget repairs the write did, queue the ones it could not do."""
        self._r.queue.discard(key, acked)
        if acked:
            for name in failed:
                self._r.queue_copy(key, name)
        if len(acked) < self._r.quorum:
            raise Unavailable(f"only {len(acked)} of {self._r.quorum} required backends "
                              f"stored {what(key)}")

    def put(self, kind: ObjectKind, scope: str, object_id: str, data: bytes) -> None:
        """Store on every allowed backend; InvalidRequest if `data` is not the object."""
        checked = validate_key(kind, scope, object_id)
        if not content_matches(checked, object_id, data):
            raise InvalidRequest(f"{checked.value} object {object_id} does not match "
                                 "its content")
        key = (checked, scope, object_id)
        payload = bytes(data)
        targets = [b for b in self._r.writable if not self._r.queue.scope_hidden(scope, b.name)]
        results = self._r.fan_out(targets, lambda b: done(b.store.put, checked, scope,
                                                          object_id, payload))
        acked = [b.name for b, r in results if r]
        self._settle(key, acked, [n for n in self._r.writable_names if n not in acked])

    def open_writer(self, kind: ObjectKind, scope: str) -> ReplicatedObjectWriter:
        """Stream into a writer of every allowed backend at once."""
        checked = validate_kind(kind)
        validate_scope(scope)
        targets = [b for b in self._r.writable if not self._r.queue.scope_hidden(scope, b.name)]
        opened = self._r.fan_out(targets, lambda b: b.store.open_writer(checked, scope))
        live: Live = [(b.name, w) for b, w in opened if w is not None]
        dropped = [n for n in self._r.writable_names if n not in dict(live)]
        if len(live) < self._r.quorum:
            for _, writer in live:
                writer.abort()
            raise Unavailable(f"only {len(live)} of {self._r.quorum} required backends can "
                              f"store a new {checked.value[:-1]} object")
        return ReplicatedObjectWriter(
            checked, live, dropped, quorum=self._r.quorum, run_all=self._run_writers,
            settle=lambda object_id, acked, failed: self._settle((checked, scope, object_id),
                                                          acked, failed))

    def flush(self) -> None:
        """Flush every allowed backend; Unavailable when fewer than quorum succeed."""
        results = self._r.fan_out(self._r.writable, lambda b: done(b.store.flush))
        flushed = sum(1 for _, r in results if r)
        if flushed < self._r.quorum:
            raise Unavailable(f"only {flushed} of {self._r.quorum} required backends flushed")

    def delete(self, kind: ObjectKind, scope: str, object_id: str) -> None:
        """Delete on every backend; an unreachable copy is hidden and deleted by repair."""
        checked = validate_key(kind, scope, object_id)
        key = (checked, scope, object_id)
        results = self._r.fan_out(self._r.backends,
                                  lambda b: done(b.store.delete, checked, scope, object_id))
        self._r.queue.discard(key, [b.name for b, r in results if r])
        for backend, result in results:
            if not result:
                self._r.queue.add(RepairTask(RepairAction.DELETE, checked, scope, object_id,
                                           backend.name))

    def delete_scope(self, scope: str) -> None:
        """Delete a scope on every backend; unreachable ones are hidden and done by repair."""
        validate_scope(scope)
        results = self._r.fan_out(self._r.backends, lambda b: done(b.store.delete_scope, scope))
        self._r.queue.discard_scope(scope, [b.name for b, r in results if r])
        for backend, result in results:
            if not result:
                self._r.queue.add(RepairTask(RepairAction.DELETE_SCOPE, None, scope, "",
                                           backend.name))

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
                for name in seen[BAD] + seen[MISSING]:
                    self._r.queue_copy(key, name)
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
            holders = [b for b, absent in answered
                       if object_id not in absent and not self._r.queue.hidden(key, b.name)]
            if not holders:
                result.append(object_id)
                continue
            for backend, absent in answered:
                if object_id in absent:
                    self._r.queue_copy(key, backend.name)
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

    def _union(self, list_one: Callable[[NamedBackend], list[str]],
               hidden: Callable[[str, str], bool], what: str) -> list[str]:
        results = self._r.fan_out(self._r.backends, list_one)
        if all(r is None for _, r in results):
            raise Unavailable(f"no backend could list {what}")
        union: dict[str, None] = {}
        for backend, items in results:
            for item in items or []:
                if not hidden(item, backend.name):
                    union[item] = None
        return list(union)

    def iter_ids(self, kind: ObjectKind, scope: str) -> Iterator[str]:
        """Every id any reachable backend holds for (kind, scope) (a snapshot)."""
        checked = validate_kind(kind)
        validate_scope(scope)
        return iter(self._union(
            lambda b: list(b.store.iter_ids(checked, scope)),
            lambda i, name: self._r.queue.hidden((checked, scope, i), name), f"ids of {scope}"))

    def iter_scopes(self) -> Iterator[str]:
        """Every scope some reachable backend holds objects of (a snapshot)."""
        return iter(self._union(lambda b: list(b.store.iter_scopes()),
                                self._r.queue.scope_hidden, "scopes"))

    # --- health and repair ----------------------------------------------------------

    def status(self) -> ReplicationStatus:
        """Health and pending repairs per backend."""
        counts = self._r.queue.counts()
        return ReplicationStatus(self._r.quorum, tuple(
            BackendStatus(b.name, b.region, self._r.health.healthy(b.name),
                          b.name in self._r.writable_names, self._r.health.last_error(b.name),
                          counts.get(b.name, 0))
            for b in self._r.backends))

    def pending_repairs(self) -> list[RepairTask]:
        """A snapshot of the repair queue."""
        return self._r.queue.snapshot()

    def check_health(self) -> None:
        """Probe every backend marked unhealthy with one cheap call (an `exists`)."""
        self._repairer.check_health()

    def repair_pending(self, limit: int | None = None) -> RepairReport:
        """Carry out up to `limit` queued repairs; unreachable targets stay queued.

        Backends marked unhealthy are probed first, so a recovered one shows healthy.
        """
        return self._repairer.repair_pending(limit)

    def scrub(self, scope: str | None = None, *,
              max_bytes_per_second: float | None = None) -> RepairReport:
        """Read and verify every copy of every object (of one scope, or all) and repair."""
        return self._repairer.scrub(scope, max_bytes_per_second=max_bytes_per_second)
