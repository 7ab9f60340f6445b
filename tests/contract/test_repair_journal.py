"""The persistent repair queue: SqlRepairJournal on SQLite and PostgreSQL, restarts, SIGKILL."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.engine import make_url

import sesamedisk
from sesamedisk.adapters.metadata.engine import create_engine_for
from sesamedisk.adapters.metadata.migrate import upgrade
from sesamedisk.adapters.metadata.sql_repairs import BATCH_SIZE, SqlRepairJournal
from sesamedisk.adapters.metadata.tables import repair_tasks
from sesamedisk.adapters.objects.local import LocalObjectStore
from sesamedisk.adapters.objects.memory import MemoryObjectStore
from sesamedisk.adapters.objects.replicated import NamedBackend, ReplicatedObjectStore
from sesamedisk.adapters.objects.replicated_state import RepairAction, RepairTask
from sesamedisk.errors import ObjectNotFound, Unavailable
from sesamedisk.ports.objects import ObjectKind, ObjectStore
from tests.contract.test_object_store import SCOPE_A, SCOPE_B
from tests.contract.test_replicated_store import flaky, good_copies, objects_of

COPY, DELETE, DELETE_SCOPE = RepairAction.COPY, RepairAction.DELETE, RepairAction.DELETE_SCOPE
SRC_DIR = str(Path(sesamedisk.__file__).resolve().parents[1])


def task(action: RepairAction, seed: int, backend: str, scope: str = SCOPE_A) -> RepairTask:
    """A task for sample object `seed` (a whole scope for DELETE_SCOPE)."""
    if action is DELETE_SCOPE:
        return RepairTask(action, None, scope, "", backend)
    return RepairTask(action, ObjectKind.BLOCK, scope, f"{seed:040x}", backend)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """A migrated metadata database."""
    engine = create_engine_for(database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def journal(engine: Engine) -> SqlRepairJournal:
    """A journal whose clock stands at 1234.9."""
    return SqlRepairJournal(engine, clock=lambda: 1234.9)


# --- the journal ----------------------------------------------------------------------------


def test_a_slot_holds_the_newest_task_and_done_tasks_are_forgotten(
        journal: SqlRepairJournal, engine: Engine) -> None:
    journal.add([task(COPY, 1, "b0"), task(DELETE, 2, "b1")])
    assert set(journal.load()) == {task(COPY, 1, "b0"), task(DELETE, 2, "b1")}
    journal.add([task(DELETE, 1, "b0")])
    journal.add([task(COPY, 1, "b0"), task(COPY, 3, "b0")], replace=False)
    assert set(journal.load()) == {task(DELETE, 1, "b0"), task(DELETE, 2, "b1"),
                                   task(COPY, 3, "b0")}
    journal.remove([task(COPY, 1, "b0"), task(DELETE, 2, "b1")])  # b0's slot moved on
    assert set(journal.load()) == {task(DELETE, 1, "b0"), task(COPY, 3, "b0")}
    with engine.connect() as connection:
        assert set(connection.execute(select(repair_tasks.c.queued_at)).scalars()) == {1234}


def test_a_scope_delete_supersedes_its_scope_on_its_backend(journal: SqlRepairJournal) -> None:
    journal.add([task(COPY, 1, "b0"), task(COPY, 2, "b1"), task(COPY, 3, "b0", SCOPE_B)])
    journal.add([task(DELETE_SCOPE, 0, "b0")])
    journal.add([task(COPY, 4, "b0")])  # the scope is used again after the delete
    journal.add([task(COPY, 5, "b1"), task(DELETE_SCOPE, 0, "b1"), task(COPY, 6, "b1")])
    assert set(journal.load()) == {
        task(DELETE_SCOPE, 0, "b0"), task(COPY, 3, "b0", SCOPE_B), task(COPY, 4, "b0"),
        task(DELETE_SCOPE, 0, "b1"), task(COPY, 6, "b1")}


def test_many_tasks_are_written_and_removed_in_batches(journal: SqlRepairJournal) -> None:
    tasks = [task(COPY, seed, f"b{seed % 3}") for seed in range(2 * BATCH_SIZE + 17)]
    journal.add(tasks)
    assert sorted(journal.load(), key=tasks.index) == tasks
    journal.remove(tasks[:BATCH_SIZE + 1])
    assert set(journal.load()) == set(tasks[BATCH_SIZE + 1:])


# --- the store over a journal ---------------------------------------------------------------


def test_repairs_and_tombstones_survive_a_restart(journal: SqlRepairJournal) -> None:
    inner: list[ObjectStore] = [MemoryObjectStore() for _ in range(3)]
    first, doubles = flaky(inner=inner, journal=journal)
    objects = objects_of(4)
    kind, gone, data = objects[0]
    first.put(kind, SCOPE_A, gone, data)
    doubles[1].down = True
    for each in objects[1:]:
        first.put(each[0], SCOPE_A, *each[1:])
    first.delete(kind, SCOPE_A, gone)  # b1 keeps its copy, to be deleted by repair
    first.close()

    second, doubles = flaky(inner=inner, journal=journal)  # restarted, b1 is back
    assert second.status().degraded
    assert second.status().pending_repairs == 4
    with pytest.raises(ObjectNotFound):
        second.get(kind, SCOPE_A, gone)
    assert second.missing(kind, SCOPE_A, [gone]) == [gone]
    assert second.repair_pending().repaired == 4
    assert not inner[1].exists(kind, SCOPE_A, gone)
    for each in objects[1:]:
        assert good_copies(doubles, each[0], SCOPE_A, each[1]) == 3
    assert journal.load() == []
    assert not second.status().degraded
    second.close()


def test_processes_over_one_database_share_the_queue(journal: SqlRepairJournal) -> None:
    inner: list[ObjectStore] = [MemoryObjectStore() for _ in range(3)]
    first, first_doubles = flaky(inner=inner, journal=journal)
    second, second_doubles = flaky(inner=inner, journal=journal)
    first_doubles[2].down = True
    for kind, object_id, data in objects_of(3):
        first.put(kind, SCOPE_A, object_id, data)
    assert first.status().pending_repairs == 3
    assert second.repair_pending().repaired == 3  # reloads, so it sees the first's tasks
    for kind, object_id, _ in objects_of(3):
        assert good_copies(second_doubles, kind, SCOPE_A, object_id) == 3
    assert first.status().pending_repairs == 3  # until it reloads
    first_doubles[2].down = False
    assert first.repair_pending().repaired == 0
    assert not first.status().degraded
    first.close()
    second.close()


@contextlib.contextmanager
def journal_cannot_write(admin: Engine) -> Iterator[None]:
    """Inside, writes to repair_tasks fail: the table is renamed away on SQLite, locked on
    PostgreSQL (where the journal's engine gives up waiting for a lock after 200 ms)."""
    if admin.dialect.name == "sqlite":
        with admin.begin() as connection:
            connection.exec_driver_sql("ALTER TABLE repair_tasks RENAME TO repair_tasks_away")
        try:
            yield
        finally:
            with admin.begin() as connection:
                connection.exec_driver_sql("ALTER TABLE repair_tasks_away RENAME TO repair_tasks")
        return
    with admin.begin() as connection:
        connection.exec_driver_sql("LOCK TABLE repair_tasks IN ACCESS EXCLUSIVE MODE")
        yield


def test_a_write_whose_repair_cannot_be_recorded_fails(database_url: str,
                                                       engine: Engine) -> None:
    url = make_url(database_url)
    if url.get_backend_name() == "postgresql":
        url = url.update_query_dict({"options": "-c lock_timeout=200"})
    journal_engine = create_engine_for(url.render_as_string(hide_password=False))
    journal = SqlRepairJournal(journal_engine)
    store, doubles = flaky(journal=journal)
    doubles[0].down = True
    kind, object_id, data = objects_of(1)[0]
    with journal_cannot_write(engine), pytest.raises(Unavailable):
        store.put(kind, SCOPE_A, object_id, data)
    assert store.pending_repairs() == []  # memory never holds what the journal lost
    store.put(kind, SCOPE_A, object_id, data)  # the retry records it
    assert journal.load() == [RepairTask(COPY, kind, SCOPE_A, object_id, "b0")]
    store.close()
    journal_engine.dispose()


# --- SIGKILL --------------------------------------------------------------------------------

WRITER_SCRIPT = """
    import sys
    from sesamedisk.adapters.metadata.engine import create_engine_for
    from sesamedisk.adapters.metadata.sql_repairs import SqlRepairJournal
    from sesamedisk.adapters.objects.local import LocalObjectStore
    from sesamedisk.adapters.objects.replicated import NamedBackend, ReplicatedObjectStore
    from sesamedisk.errors import Unavailable
    from sesamedisk.domain.codec import sha1_hex
    from sesamedisk.ports.objects import ObjectKind

    url, root, scope = sys.argv[1:4]

    class Down:
        def __getattr__(self, name):
            def fail(*args, **kwargs):
                raise Unavailable("backend r2 is down")
            return fail

    backends = [NamedBackend(f"r{i}", "eu", LocalObjectStore(f"{root}/r{i}")) for i in range(2)]
    store = ReplicatedObjectStore([*backends, NamedBackend("r2", "eu", Down())], write_quorum=2,
                                  journal=SqlRepairJournal(create_engine_for(url)))
    for seed in range(100_000):
        data = b"block %d" % seed
        store.put(ObjectKind.BLOCK, scope, sha1_hex(data), data)
        print(sha1_hex(data), flush=True)
"""


def test_sigkill_mid_writes_loses_no_acknowledged_repair(database_url: str, engine: Engine,
                                                          tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": SRC_DIR + os.pathsep + os.environ.get("PYTHONPATH", "")}
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(WRITER_SCRIPT), database_url, str(tmp_path),
         SCOPE_A], stdout=subprocess.PIPE, text=True, env=env)
    assert child.stdout is not None
    acknowledged = [child.stdout.readline().strip() for _ in range(40)]
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    assert all(len(object_id) == 40 for object_id in acknowledged)

    locals_ = [LocalObjectStore(tmp_path / f"r{i}") for i in range(3)]
    store = ReplicatedObjectStore([NamedBackend(f"r{i}", "eu", s) for i, s in enumerate(locals_)],
                                  write_quorum=2, journal=SqlRepairJournal(engine))
    queued = {t.object_id for t in store.pending_repairs() if t.backend == "r2"}
    assert set(acknowledged) <= queued
    store.repair_pending()
    for object_id in acknowledged:
        for local in locals_:
            assert local.exists(ObjectKind.BLOCK, SCOPE_A, object_id)
    assert store.pending_repairs() == []
    store.close()
