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
    """Carries out queued repairs and scrubs; never writes outside the writable backends."""

    def __init__(self, replicas: ReplicaSet) -> None:
        self._r = replicas

    def check_health(self) -> None:
        """Probe every backend marked unhealthy with one cheap call (an `exists`)."""
        for backend in self._r.backends:
            if not self._r.health.healthy(backend.name):
                with contextlib.suppress(Unavailable):
                    self._r.call(backend, functools.partial(
                        backend.store.exists, ObjectKind.BLOCK, _PROBE_SCOPE, _PROBE_ID))

    def repair_pending(self, limit: int | None = None) -> RepairReport:
        """Carry out up to `limit` queued repairs; unreachable targets stay queued.

        Backends marked unhealthy are probed first, so a recovered one shows healthy.
        """
        self.check_health()
        report = RepairReport()
        copies: dict[ObjectKey, list[str]] = {}
        by_name = {b.name: b for b in self._r.backends}
        for task in self._r.queue.take(limit):
            backend = by_name[task.backend]
            if task.action is RepairAction.COPY:
                assert task.kind is not None
                copies.setdefault((task.kind, task.scope, task.object_id), []).append(
                    task.backend)
                continue
            try:
                if task.kind is None:
                    self._r.call(backend, functools.partial(backend.store.delete_scope,
                                                            task.scope))
                else:
                    self._r.call(backend, functools.partial(
                        backend.store.delete, task.kind, task.scope, task.object_id))
                report.repaired += 1
            except Unavailable:
                report.unreachable.add(backend.name)
                report.deferred += 1
                self._r.queue.add(task, replace=False)
        for key, targets in copies.items():
            report.checked += 1
            self._repair_object(key, [by_name[n] for n in targets], report, None)
        return report

    def _repair_object(self, key: ObjectKey, targets: list[NamedBackend],
                       report: RepairReport, bucket: TokenBucket | None) -> None:
        """Bring each target to a verified copy, read from any other backend if needed."""
        good: bytes | None = None
        needed: list[tuple[NamedBackend, str]] = []
        for target in targets:
            state, data = self._r.inspect(target, key)
            good = good if data is None else data
            if state == DOWN:
                self._defer(key, target, report)
            elif state != GOOD:
                needed.append((target, state))
        if not needed:
            return
        names = {t.name for t, _ in needed}
        sources_down = False
        for source in self._r.read_order():
            if good is not None:
                break
            if source.name in names or self._r.queue.hidden(key, source.name):
                continue
            state, good = self._r.inspect(source, key)
            sources_down = sources_down or state == DOWN
            if bucket is not None and good is not None:
                bucket.consume(len(good))
        if good is None:
            if sources_down:
                for target, _ in needed:
                    self._defer(key, target, report)
            else:
                report.unrecoverable.append(key)
            return
        for target, state in needed:
            self._restore(key, target, state, good, report)

    def _restore(self, key: ObjectKey, target: NamedBackend, state: str, good: bytes,
                 report: RepairReport) -> None:
        if target.name not in self._r.writable_names:
            return  # residency: never write outside the allowed regions
        try:
            if state == BAD:
                self._r.call(target, lambda: target.store.delete(*key))
            self._r.call(target, lambda: target.store.put(*key, good))
        except Unavailable:
            self._defer(key, target, report)
            return
        if self._r.inspect(target, key)[0] == GOOD:
            report.repaired += 1
            return
        task = RepairTask(RepairAction.COPY, key[0], key[1], key[2], target.name)
        report.failed.append(task)
        self._r.queue.add(task, replace=False)

    def _defer(self, key: ObjectKey, target: NamedBackend, report: RepairReport) -> None:
        report.deferred += 1
        report.unreachable.add(target.name)
        self._r.queue.add(RepairTask(RepairAction.COPY, key[0], key[1], key[2], target.name),
                        replace=False)

    def scrub(self, scope: str | None = None, *,
              max_bytes_per_second: float | None = None) -> RepairReport:
        """Read and verify every copy of every object (of one scope, or all) and repair."""
        report = RepairReport()
        bucket = TokenBucket(max_bytes_per_second)
        scopes = [validate_scope(scope)] if scope is not None else self._scrub_union(
            lambda b: list(b.store.iter_scopes()), report)
        for each in sorted(scopes):
            for kind in ObjectKind:
                ids = self._scrub_union(functools.partial(_ids_of, kind, each), report)
                for object_id in sorted(ids):
                    self._scrub_object((kind, each, object_id), report, bucket)
        return report

    def _scrub_union(self, list_one: Callable[[NamedBackend], list[str]],
                     report: RepairReport) -> set[str]:
        union: set[str] = set()
        for backend, items in self._r.fan_out(self._r.backends, list_one):
            if items is None:
                report.unreachable.add(backend.name)
            union.update(items or [])
        return union

    def _scrub_object(self, key: ObjectKey, report: RepairReport, bucket: TokenBucket) -> None:
        report.checked += 1
        good: bytes | None = None
        needed: list[tuple[NamedBackend, str]] = []
        for backend in self._r.backends:
            if self._r.queue.hidden(key, backend.name):
                continue
            state, data = self._r.inspect(backend, key)
            report.copies_checked += state != DOWN
            if data is not None:
                bucket.consume(len(data))
                report.bytes_read += len(data)
                good = data
            elif state == DOWN:
                report.unreachable.add(backend.name)
            else:
                report.missing_found += state == MISSING
                report.corrupt_found += state == BAD
                needed.append((backend, state))
        if good is None:
            if any(state == BAD for _, state in needed):
                report.unrecoverable.append(key)
            return
        for target, state in needed:
            if target.name in self._r.writable_names:
                self._r.queue.discard(key, [target.name])
                self._restore(key, target, state, good, report)
