"""Shared state of the replicated store: backends, health, repair queue, per-copy checks."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from sesamedisk.adapters.objects.verifying import content_matches
from sesamedisk.errors import Corrupted, ObjectNotFound, SesameError, Unavailable
from sesamedisk.ports.objects import ObjectKind, ObjectStore

ObjectKey = tuple[ObjectKind, str, str]
"""(kind, scope, object id) of one object."""
T = TypeVar("T")
GOOD, BAD, MISSING, DOWN = "good", "bad", "missing", "down"
"""States of one backend's copy of an object."""


def done(call: Callable[..., None], *args: object) -> bool:
    """Run a call that returns nothing; True once it did (for fan-out results)."""
    call(*args)
    return True


def what(key: ObjectKey) -> str:
    """An object's key as text for messages."""
    return f"{key[0].value}/{key[1]}/{key[2]}"


@dataclass(frozen=True)
class NamedBackend:
    """One replica: a store with a unique name and the region its bytes live in."""

    name: str
    region: str
    store: ObjectStore


class RepairAction(StrEnum):
    """What a queued repair does to one backend."""

    COPY = "copy"
    DELETE = "delete"
    DELETE_SCOPE = "delete_scope"


_ORDER = {RepairAction.DELETE_SCOPE: 0, RepairAction.DELETE: 1, RepairAction.COPY: 2}


@dataclass(frozen=True)
class RepairTask:
    """One backend that needs an object copied to it, or deleted (a scope: object_id "")."""

    action: RepairAction
    kind: ObjectKind | None
    scope: str
    object_id: str
    backend: str

    @property
    def slot(self) -> tuple[ObjectKind | None, str, str, str]:
        """Queue slot: a newer task for the same object and backend replaces an older one."""
        return self.kind, self.scope, self.object_id, self.backend


class RepairQueue:
    """Thread-safe, de-duplicated, in-memory set of pending repairs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tasks: dict[tuple[ObjectKind | None, str, str, str], RepairTask] = {}

    def add(self, task: RepairTask, *, replace: bool = True) -> None:
        """Queue `task`; with replace=False an already queued task for its slot wins."""
        with self._lock:
            if task.action is RepairAction.DELETE_SCOPE:
                for slot in [s for s in self._tasks if s[1] == task.scope
                             and s[3] == task.backend]:
                    del self._tasks[slot]
            if replace or task.slot not in self._tasks:
                self._tasks[task.slot] = task

    def take(self, limit: int | None = None) -> list[RepairTask]:
        """Remove and return up to `limit` tasks: scope deletes, then deletes, then copies."""
        with self._lock:
            tasks = sorted(self._tasks.values(), key=lambda t: _ORDER[t.action])
            if limit is not None:
                tasks = tasks[:max(limit, 0)]
            for task in tasks:
                del self._tasks[task.slot]
            return tasks

    def discard(self, key: ObjectKey, backends: Iterable[str]) -> None:
        """Forget queued tasks of one object on the backends given."""
        with self._lock:
            for name in backends:
                self._tasks.pop((key[0], key[1], key[2], name), None)

    def discard_scope(self, scope: str, backends: Iterable[str]) -> None:
        """Forget every queued task of a scope on the backends given."""
        names = set(backends)
        with self._lock:
            for slot in [s for s in self._tasks if s[1] == scope and s[3] in names]:
                del self._tasks[slot]

    def hidden(self, key: ObjectKey, backend: str) -> bool:
        """True when the backend's copy awaits deletion (a tombstone): it must not be used."""
        with self._lock:
            task = self._tasks.get((key[0], key[1], key[2], backend))
            if task is not None and task.action is RepairAction.DELETE:
                return True
            return (None, key[1], "", backend) in self._tasks

    def scope_hidden(self, scope: str, backend: str) -> bool:
        """True when the whole scope awaits deletion on the backend."""
        with self._lock:
            return (None, scope, "", backend) in self._tasks

    def counts(self) -> dict[str, int]:
        """Pending tasks per backend name."""
        counts: dict[str, int] = {}
        with self._lock:
            for task in self._tasks.values():
                counts[task.backend] = counts.get(task.backend, 0) + 1
        return counts

    def snapshot(self) -> list[RepairTask]:
        """Every pending task (a copy of the queue)."""
        with self._lock:
            return list(self._tasks.values())


class Health:
    """Per-backend health: the last call's outcome decides; the last error text is kept."""

    def __init__(self, names: Iterable[str]) -> None:
        self._lock = threading.Lock()
        self._healthy = dict.fromkeys(names, True)
        self._errors: dict[str, str | None] = dict.fromkeys(self._healthy)

    def ok(self, name: str) -> None:
        """The backend answered."""
        with self._lock:
            self._healthy[name] = True

    def failed(self, name: str, error: SesameError) -> None:
        """The backend was unavailable."""
        with self._lock:
            self._healthy[name] = False
            self._errors[name] = error.message

    def healthy(self, name: str) -> bool:
        """Whether the backend's last call succeeded."""
        with self._lock:
            return self._healthy[name]

    def last_error(self, name: str) -> str | None:
        """Text of the backend's last Unavailable error, if any."""
        with self._lock:
            return self._errors[name]


class ReplicaSet:
    """The backends of a replicated store and the primitives reads, writes and repairs share."""

    def __init__(self, backends: Sequence[NamedBackend], writable: Sequence[NamedBackend],
                 quorum: int, max_workers: int | None) -> None:
        self.backends = tuple(backends)
        self.writable = tuple(writable)
        self.writable_names = frozenset(b.name for b in writable)
        self.quorum = quorum
        self.queue = RepairQueue()
        self.health = Health(b.name for b in backends)
        self.pool = ThreadPoolExecutor(max_workers=max_workers or 4 * len(backends),
                                       thread_name_prefix="replicated-store")

    def call(self, backend: NamedBackend, call: Callable[[], T]) -> T:
        """Run one backend call, recording its health (ObjectNotFound counts as healthy)."""
        try:
            result = call()
        except Unavailable as exc:
            self.health.failed(backend.name, exc)
            raise
        except ObjectNotFound:
            self.health.ok(backend.name)
            raise
        self.health.ok(backend.name)
        return result

    def fan_out(self, backends: Sequence[NamedBackend],
                call: Callable[[NamedBackend], T]) -> list[tuple[NamedBackend, T | None]]:
        """Call every backend in parallel; an unavailable one yields None, others re-raise."""
        futures = [(b, self.pool.submit(self.call, b, functools.partial(call, b)))
                   for b in backends]
        results: list[tuple[NamedBackend, T | None]] = []
        error: BaseException | None = None
        for backend, future in futures:
            try:
                results.append((backend, future.result()))
            except Unavailable:
                results.append((backend, None))
            except BaseException as exc:
                error = error or exc
        if error is not None:
            raise error
        return results

    def read_order(self) -> list[NamedBackend]:
        """Backends to read from: healthy before unhealthy, writable before read-only."""
        return sorted(self.backends, key=lambda b: (not self.health.healthy(b.name),
                                                    b.name not in self.writable_names))

    def queue_copy(self, key: ObjectKey, name: str) -> None:
        """Queue a copy of the object to a backend, unless residency forbids writing it."""
        if name in self.writable_names:
            self.queue.add(RepairTask(RepairAction.COPY, key[0], key[1], key[2], name))

    def inspect(self, backend: NamedBackend, key: ObjectKey) -> tuple[str, bytes | None]:
        """State of one backend's copy: good (with its bytes), bad, missing or down."""
        kind, scope, object_id = key
        try:
            data = self.call(backend, lambda: backend.store.get(kind, scope, object_id))
        except ObjectNotFound:
            return MISSING, None
        except Corrupted:
            return BAD, None
        except Unavailable:
            return DOWN, None
        return (GOOD, data) if content_matches(kind, object_id, data) else (BAD, None)
