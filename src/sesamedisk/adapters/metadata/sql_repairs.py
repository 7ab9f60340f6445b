"""The replicated store's repair journal on the repair_tasks table (SQLite or PostgreSQL)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, Insert, bindparam, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from sesamedisk.adapters.metadata.sql_support import unavailable_on_operational_error
from sesamedisk.adapters.metadata.tables import repair_tasks
from sesamedisk.adapters.objects.replicated_state import (
    RepairAction,
    RepairTask,
    Slot,
    queue_into,
)
from sesamedisk.ports.objects import ObjectKind

BATCH_SIZE = 500
"""Tasks written per transaction: many tasks never hold the database for long."""

_SLOT = ("kind", "scope", "object_id", "backend")
_t = repair_tasks.c


def _batches(tasks: Sequence[RepairTask]) -> Iterator[Sequence[RepairTask]]:
    for start in range(0, len(tasks), BATCH_SIZE):
        yield tasks[start:start + BATCH_SIZE]


def _row(task: RepairTask, now: int) -> dict[str, Any]:
    return {"kind": "" if task.kind is None else task.kind.value, "scope": task.scope,
            "object_id": task.object_id, "backend": task.backend,
            "action": task.action.value, "queued_at": now}


def _task(kind: str, scope: str, object_id: str, backend: str, action: str) -> RepairTask:
    return RepairTask(RepairAction(action), ObjectKind(kind) if kind else None, scope,
                      object_id, backend)


def _upsert(connection: Connection, *, replace: bool) -> Insert:
    """INSERT into repair_tasks that replaces (or keeps) a row already in the slot."""
    if connection.dialect.name == "postgresql":
        pg = postgresql.insert(repair_tasks)
        if replace:
            return pg.on_conflict_do_update(index_elements=_SLOT, set_={
                "action": pg.excluded.action, "queued_at": pg.excluded.queued_at})
        return pg.on_conflict_do_nothing(index_elements=_SLOT)
    lite = sqlite.insert(repair_tasks)
    if replace:
        return lite.on_conflict_do_update(index_elements=_SLOT, set_={
            "action": lite.excluded.action, "queued_at": lite.excluded.queued_at})
    return lite.on_conflict_do_nothing(index_elements=_SLOT)


_SAME_SCOPE = delete(repair_tasks).where(
    _t.scope == bindparam("d_scope"), _t.backend == bindparam("d_backend"))
_DONE = delete(repair_tasks).where(
    _t.kind == bindparam("d_kind"), _t.scope == bindparam("d_scope"),
    _t.object_id == bindparam("d_object_id"), _t.backend == bindparam("d_backend"),
    _t.action == bindparam("d_action"))


class SqlRepairJournal:
    """RepairJournal on the metadata database; each call is one or a few short transactions.

    Rows follow the in-memory queue's rules (`queue_into`): one row per slot, a scope
    delete supersedes the rows of its scope on its backend. Database errors that a retry
    may cure raise Unavailable, so a repair that was not recorded fails its caller.
    """

    def __init__(self, engine: Engine, *, clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self._clock = clock

    def add(self, tasks: Sequence[RepairTask], *, replace: bool = True) -> None:
        """Record tasks in order: a batch of them per transaction."""
        slots: dict[Slot, RepairTask] = {}
        for task in tasks:
            queue_into(slots, task, replace=replace)
        now = int(self._clock())
        for batch in _batches(list(slots.values())):
            scope_deletes = [{"d_scope": t.scope, "d_backend": t.backend} for t in batch
                             if t.action is RepairAction.DELETE_SCOPE]
            with unavailable_on_operational_error(), self._engine.begin() as connection:
                if scope_deletes:
                    connection.execute(_SAME_SCOPE, scope_deletes)
                connection.execute(_upsert(connection, replace=replace),
                                   [_row(t, now) for t in batch])

    def remove(self, tasks: Sequence[RepairTask]) -> None:
        """Forget done tasks, a batch per transaction; a slot now holding another action stays."""
        for batch in _batches(tasks):
            rows = [{f"d_{k}": v for k, v in _row(t, 0).items() if k != "queued_at"}
                    for t in batch]
            with unavailable_on_operational_error(), self._engine.begin() as connection:
                connection.execute(_DONE, rows)

    def load(self) -> list[RepairTask]:
        """Every recorded task, oldest first."""
        query = select(_t.kind, _t.scope, _t.object_id, _t.backend, _t.action).order_by(
            _t.queued_at)
        with unavailable_on_operational_error(), self._engine.connect() as connection:
            return [_task(*row) for row in connection.execute(query)]
