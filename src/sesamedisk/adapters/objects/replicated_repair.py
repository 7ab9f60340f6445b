"""Repair and scrub of the replicated store: copy verified bytes where copies are missing."""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sesamedisk.adapters.objects.keys import validate_scope
from sesamedisk.adapters.objects.replicated_state import (
    BAD,
    DOWN,
    GOOD,
    MISSING,
    NamedBackend,
    ObjectKey,
    RepairAction,
    RepairTask,
    ReplicaSet,
)
from sesamedisk.errors import Unavailable
from sesamedisk.ports.objects import ObjectKind

_PROBE_SCOPE = "00000000-0000-0000-0000-000000000000"
_PROBE_ID = "0" * 40


def _ids_of(kind: ObjectKind, scope: str, backend: NamedBackend) -> list[str]:
    return list(backend.store.iter_ids(kind, scope))


@dataclass
class RepairReport:
    """What a `repair_pending` or `scrub` run found and did."""

    checked: int = 0
    """Objects examined."""
    copies_checked: int = 0
    missing_found: int = 0
    corrupt_found: int = 0
    repaired: int = 0
    """Copies written (or deletes carried out) and verified."""
    deferred: int = 0
    """Repairs put back in the queue because a backend was unavailable."""
    failed: list[RepairTask] = field(default_factory=list)
    """Copies written that did not read back correctly (queued again)."""
    unrecoverable: list[ObjectKey] = field(default_factory=list)
    """Objects with no good copy left anywhere."""
    unreachable: set[str] = field(default_factory=set)
    """Backends that were unavailable during the run."""
    bytes_read: int = 0
    outside_placement: int = 0
    """Copies found on backends outside their scope's placement: left alone, never repaired."""
    unplaced: set[str] = field(default_factory=set)
    """Scopes `regions_for` refused: their copies were checked, nothing was written."""


class TokenBucket:
    """Limits bytes per second with a one-second burst; None means unlimited."""

    def __init__(self, rate: float | None, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if rate is not None and rate <= 0:
            raise ValueError("rate must be positive")
        self._rate = rate
        self._clock = clock
        self._sleep = sleep
        self._tokens = rate or 0.0
        self._last = clock()

    def consume(self, amount: int) -> None:
        """Take `amount` tokens, sleeping as long as the debt needs to be paid off."""
        if self._rate is None:
            return
        now = self._clock()
        self._tokens = min(self._rate, self._tokens + (now - self._last) * self._rate)
        self._last = now
        self._tokens -= amount
        if self._tokens < 0:
            self._sleep(-self._tokens / self._rate)
            self._tokens = 0.0
            self._last = self._clock()


class Repairer:
    """Carries out queued repairs and scrubs; writes only to a scope's placement."""

    def __init__(self, replicas: ReplicaSet) -> None:
        self._r = replicas
        self._by_name = {b.name: b for b in replicas.backends}

    def check_health(self) -> None:
        """Probe every backend marked unhealthy with one cheap call (an `exists`)."""
        for backend in self._r.backends:
            if not self._r.health.healthy(backend.name):
                with contextlib.suppress(Unavailable):
                    self._r.call(backend, functools.partial(
                        backend.store.exists, ObjectKind.BLOCK, _PROBE_SCOPE, _PROBE_ID))

    def repair_pending(self, limit: int | None = None) -> RepairReport:
        """Reload the journal, then carry out up to `limit` queued repairs.

        Backends marked unhealthy are probed first, so a recovered one shows healthy. A task
        leaves the queue only once done; unreachable targets keep theirs.
        """
        self._r.queue.reload()
        self.check_health()
        report = RepairReport()
        copies: dict[ObjectKey, list[RepairTask]] = {}
        finished: list[RepairTask] = []
        try:
            for task in self._r.queue.take(limit):
                if task.kind is not None and task.action is RepairAction.COPY:
                    copies.setdefault((task.kind, task.scope, task.object_id), []).append(task)
                elif self._delete(task, report):
                    finished.append(task)
            for key, tasks in copies.items():
                report.checked += 1
                finished += self._copy(key, tasks, report)
        finally:
            self._r.queue.finish(finished)
        return report

    def _delete(self, task: RepairTask, report: RepairReport) -> bool:
        """Carry out a queued delete (of an object or a scope); False if deferred."""
        backend = self._by_name[task.backend]
        try:
            if task.kind is None:
                self._r.call(backend, functools.partial(backend.store.delete_scope,
                                                        task.scope))
            else:
                self._r.call(backend, functools.partial(
                    backend.store.delete, task.kind, task.scope, task.object_id))
        except Unavailable:
            self._deferred(backend, report)
            return False
        report.repaired += 1
        return True

    def _placed(self, scope: str, report: RepairReport) -> frozenset[str] | None:
        """Names of the scope's placement; None (and noted) when regions_for refuses it."""
        placed = self._r.placement.names_or_none(scope)
        if placed is None:
            report.unplaced.add(scope)
        return placed

    def _copy(self, key: ObjectKey, tasks: list[RepairTask],
              report: RepairReport) -> list[RepairTask]:
        """Carry out one object's queued copies; return the tasks that are settled.

        A task for a backend outside the placement is dropped undone (residency).
        """
        placed = self._placed(key[1], report)
        if placed is None:
            report.deferred += len(tasks)
            return []
        targets = [self._by_name[t.backend] for t in tasks if t.backend in placed]
        settled = self._repair_object(key, targets, report)
        return [t for t in tasks if t.backend not in placed or t.backend in settled]

    def _repair_object(self, key: ObjectKey, targets: list[NamedBackend],
                       report: RepairReport) -> set[str]:
        """Bring each target to a verified copy, read from any backend if needed.

        Returns the targets that need nothing more (good now, or no good copy exists).
        """
        good: bytes | None = None
        settled: set[str] = set()
        needed: list[tuple[NamedBackend, str]] = []
        for target in targets:
            state, data = self._r.inspect(target, key)
            if data is not None:
                good = data
                settled.add(target.name)
            elif state == DOWN:
                self._deferred(target, report)
            else:
                needed.append((target, state))
        if needed and good is None:
            good, sources_down = self._source(key, {t.name for t in targets})
            if good is None:
                if sources_down:
                    for target, _ in needed:
                        self._deferred(target, report)
                    return settled
                report.unrecoverable.append(key)
                return settled | {t.name for t, _ in needed}
        for target, state in needed:
            assert good is not None
            if self._restore(key, target, state, good, report):
                settled.add(target.name)
        return settled

    def _source(self, key: ObjectKey, skip: set[str]) -> tuple[bytes | None, bool]:
        """A good copy from a backend not in `skip`, and whether some source was down."""
        sources_down = False
        for source in self._r.read_order():
            if source.name in skip or self._r.queue.hidden(key, source.name):
                continue
            state, data = self._r.inspect(source, key)
            if data is not None:
                return data, False
            sources_down = sources_down or state == DOWN
        return None, sources_down

    def _restore(self, key: ObjectKey, target: NamedBackend, state: str, good: bytes,
                 report: RepairReport) -> bool:
        """Write verified bytes to a placement backend and read them back; True if good."""
        if target.name not in self._r.placement.names(key[1]):
            return False  # residency: never write outside the scope's placement
        try:
            if state == BAD:
                self._r.call(target, lambda: target.store.delete(*key))
            self._r.call(target, lambda: target.store.put(*key, good))
        except Unavailable:
            self._deferred(target, report)
            return False
        if self._r.inspect(target, key)[0] == GOOD:
            report.repaired += 1
            return True
        report.failed.append(RepairTask(RepairAction.COPY, *key, target.name))
        return False

    @staticmethod
    def _deferred(target: NamedBackend, report: RepairReport) -> None:
        report.deferred += 1
        report.unreachable.add(target.name)

    def scrub(self, scope: str | None = None, *,
              max_bytes_per_second: float | None = None) -> RepairReport:
        """Read and verify every copy of every object (of one scope, or all) and repair."""
        self._r.queue.reload()
        report = RepairReport()
        bucket = TokenBucket(max_bytes_per_second)
        scopes = [validate_scope(scope)] if scope is not None else self._scrub_union(
            lambda b: list(b.store.iter_scopes()), report)
        for each in sorted(scopes):
            placed = self._placed(each, report)
            for kind in ObjectKind:
                ids = self._scrub_union(functools.partial(_ids_of, kind, each), report)
                for object_id in sorted(ids):
                    self._scrub_object((kind, each, object_id), placed, report, bucket)
        return report

    def _scrub_union(self, list_one: Callable[[NamedBackend], list[str]],
                     report: RepairReport) -> set[str]:
        union: set[str] = set()
        for backend, items in self._r.fan_out(self._r.backends, list_one):
            if items is None:
                report.unreachable.add(backend.name)
            union.update(items or [])
        return union

    def _scrub_object(self, key: ObjectKey, placed: frozenset[str] | None,
                      report: RepairReport, bucket: TokenBucket) -> None:
        """Verify every copy; repair the placement's missing or bad ones from a good one."""
        report.checked += 1
        good: bytes | None = None
        corrupt = False
        needed: list[tuple[NamedBackend, str]] = []
        for backend in self._r.backends:
            if self._r.queue.hidden(key, backend.name):
                continue
            state, data = self._r.inspect(backend, key)
            outside = placed is not None and backend.name not in placed
            if state == DOWN:
                report.unreachable.add(backend.name)
                continue
            if state == MISSING and (outside or placed is None):
                continue  # not meant to be there, or no copy is meant to be anywhere
            report.copies_checked += 1
            report.outside_placement += outside
            if data is not None:
                bucket.consume(len(data))
                report.bytes_read += len(data)
                good = data
                continue
            report.missing_found += state == MISSING
            report.corrupt_found += state == BAD
            corrupt = corrupt or state == BAD
            if placed is not None and not outside:
                needed.append((backend, state))
        if good is None:
            if corrupt:
                report.unrecoverable.append(key)
            return
        for target, state in needed:
            if self._restore(key, target, state, good, report):
                self._r.queue.discard(key, [target.name])
            else:
                self._r.queue.add(RepairTask(RepairAction.COPY, *key, target.name),
                                  replace=False)
