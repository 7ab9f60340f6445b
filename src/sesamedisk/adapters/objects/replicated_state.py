"""Shared state of the replicated store: backends, health, repair queue, per-copy checks."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol, TypeVar

from sesamedisk.adapters.objects.verifying import content_matches
from sesamedisk.errors import Corrupted, ObjectNotFound, SesameError, Unavailable
from sesamedisk.ports.objects import ObjectKind, ObjectStore

if TYPE_CHECKING:
    from sesamedisk.adapters.objects.replicated_placement import Placement

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


Slot = tuple[ObjectKind | None, str, str, str]
"""(kind, scope, object id, backend): where a task sits in the queue."""
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
    def slot(self) -> Slot:
        """Queue slot: a newer task for the same object and backend replaces an older one."""
        return self.kind, self.scope, self.object_id, self.backend


def queue_into(slots: dict[Slot, RepairTask], task: RepairTask, *, replace: bool) -> None:
    """Put `task` in `slots` as the queue does: a scope delete supersedes its scope's tasks.

    With replace=False a task already in the slot wins. The journal applies the same rule.
    """
    if task.action is RepairAction.DELETE_SCOPE:
        for slot in [s for s in slots if s[1] == task.scope and s[3] == task.backend]:
            del slots[slot]
    if replace or task.slot not in slots:
        slots[task.slot] = task


class RepairJournal(Protocol):
    """Durable record of the repair queue, shared by every process over one database."""

    def add(self, tasks: Sequence[RepairTask], *, replace: bool = True) -> None:
        """Record tasks in order, as `queue_into` would; Unavailable if they were not recorded."""
        ...

    def remove(self, tasks: Sequence[RepairTask]) -> None:
        """Forget done tasks; a slot that now holds another action is kept."""
        ...

    def load(self) -> list[RepairTask]:
        """Every recorded task."""
        ...


class RepairQueue:
    """Thread-safe, de-duplicated set of pending repairs, written through to a journal.

    The journal is written first, so memory never holds a task the journal lost; a task
    stays queued until `finish` (a crash mid-repair only repeats work).
    """

    def __init__(self, journal: RepairJournal | None = None) -> None:
        self._journal = journal
        self._write = threading.Lock()
        """Orders journal writes with the memory changes they go with."""
        self._lock = threading.Lock()
        self._tasks: dict[Slot, RepairTask] = {}

    def reload(self) -> None:
        """Replace the tasks in memory by the journal's (what other processes queued too)."""
        if self._journal is None:
            return
        with self._write:
            loaded = sorted(self._journal.load(), key=lambda t: _ORDER[t.action])
            tasks: dict[Slot, RepairTask] = {}
            for task in loaded:
                queue_into(tasks, task, replace=True)
            with self._lock:
                self._tasks = tasks

    def add(self, task: RepairTask, *, replace: bool = True) -> None:
        """Queue `task`; with replace=False an already queued task for its slot wins."""
        self.add_many([task], replace=replace)

    def add_many(self, tasks: Iterable[RepairTask], *, replace: bool = True) -> None:
        """Queue tasks in order (journal first); tasks already queued as they are are skipped."""
        new = list(tasks)
        with self._write:
            if not any(t.action is RepairAction.DELETE_SCOPE for t in new):
                with self._lock:
                    new = [t for t in new if t.slot not in self._tasks
                           or (replace and self._tasks[t.slot] != t)]
            if not new:
                return
            if self._journal is not None:
                self._journal.add(new, replace=replace)
            with self._lock:
                for task in new:
                    queue_into(self._tasks, task, replace=replace)

    def take(self, limit: int | None = None) -> list[RepairTask]:
        """Up to `limit` queued tasks, scope deletes, then deletes, then copies (kept queued)."""
        with self._lock:
            tasks = sorted(self._tasks.values(), key=lambda t: _ORDER[t.action])
        return tasks if limit is None else tasks[:max(limit, 0)]

    def finish(self, tasks: Iterable[RepairTask]) -> None:
        """Dequeue tasks that are done, unless a newer task took their slot meanwhile."""
        done = list(tasks)
        self._drop_found(lambda: [t for t in done if self._tasks.get(t.slot) == t])

    def discard(self, key: ObjectKey, backends: Iterable[str]) -> None:
        """Forget queued tasks of one object on the backends given."""
        slots = [(key[0], key[1], key[2], name) for name in backends]
        self._drop_found(lambda: [self._tasks[s] for s in slots if s in self._tasks])

    def discard_scope(self, scope: str, backends: Iterable[str]) -> None:
        """Forget every queued task of a scope on the backends given."""
        names = set(backends)
        self._drop_found(lambda: [t for t in self._tasks.values()
                                  if t.scope == scope and t.backend in names])

    def _drop_found(self, find: Callable[[], list[RepairTask]]) -> None:
        """Dequeue the tasks `find` picks (called under the lock), from the journal first."""
        with self._lock:
            if not find():
                return  # the usual case: no wait for journal writes of other threads
        with self._write:
            with self._lock:
                found = find()
            if found and self._journal is not None:
                self._journal.remove(found)
            with self._lock:
                for task in found:
                    if self._tasks.get(task.slot) == task:
                        del self._tasks[task.slot]

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

    def __init__(self, backends: Sequence[NamedBackend], placement: Placement,
                 queue: RepairQueue, max_workers: int | None) -> None:
        self.backends = tuple(backends)
        self.placement = placement
        self.quorum = placement.quorum
        self.queue = queue
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
        """Backends to read from: healthy before unhealthy, else in configured order."""
        return sorted(self.backends, key=lambda b: not self.health.healthy(b.name))

    def queue_copies(self, key: ObjectKey, names: Iterable[str]) -> None:
        """Queue copies of the object to those backends that are in its scope's placement."""
        wanted = list(names)
        placed = self.placement.names_or_none(key[1]) if wanted else None
        if placed is not None:  # a scope without a placement gets no copies anywhere
            self.queue.add_many(RepairTask(RepairAction.COPY, *key, name)
                                for name in wanted if name in placed)

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
