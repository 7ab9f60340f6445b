"""Garbage collection over a real SQLite database: reclaiming space, and never a needed object."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from sesamedisk.adapters.metadata.engine import create_engine_for, sqlite_url_for_data_dir
from sesamedisk.adapters.metadata.migrate import upgrade
from sesamedisk.adapters.metadata.sql import sql_unit_of_work_factory
from sesamedisk.adapters.objects.memory import MemoryObjectStore
from sesamedisk.domain import paths, retention, tree
from sesamedisk.domain.ids import EMPTY_ID
from sesamedisk.domain.objects import MODE_FILE, Dirent, FileObject
from sesamedisk.domain.records import Library, User
from sesamedisk.domain.retention import GcPolicy
from sesamedisk.errors import InvalidRequest
from sesamedisk.ports.deps import Deps
from sesamedisk.ports.objects import ObjectKind
from sesamedisk.services import files, gc, libraries
from sesamedisk.services.commits import commit_change
from sesamedisk.services.library_objects import LibraryObjects

HOUR = 3600
POLICY = GcPolicy(history_seconds=2 * HOUR, trash_seconds=HOUR, grace_seconds=60)
RACE_CONTENTS = [b"alpha" * 100, b"beta" * 300]
"""Few contents and paths, so that re-using a collected file's bytes happens often."""
PATHS = ["/a", "/b"]


@dataclass
class Clock:
    """A settable wall clock shared by the services and the object store."""

    now: int = 1_000_000

    def __call__(self) -> int:
        return self.now


@dataclass
class World:
    """Services over SQLite and a memory store with a fake clock; one user, one library."""

    deps: Deps
    clock: Clock
    store: MemoryObjectStore
    user: User
    library: Library
    close: list[object] = field(default_factory=list)


def make_world(folder: Path) -> World:
    """A fresh world in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    engine = create_engine_for(sqlite_url_for_data_dir(folder))
    upgrade(engine)
    clock = Clock()
    store = MemoryObjectStore(clock=clock)
    deps = Deps(uow=sql_unit_of_work_factory(engine), objects=store, clock=clock,
                close=engine.dispose)
    with deps.uow() as uow:
        user = uow.users.add(email="alice@example.com", password_hash="x", is_admin=False,
                             now=clock())
        uow.commit()
    library = libraries.create_library(deps, user, name="docs")
    return World(deps, clock, store, user, library)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    """A world that is closed after the test."""
    made = make_world(tmp_path)
    yield made
    made.deps.close()


def head_library(world: World) -> Library:
    with world.deps.uow() as uow:
        library = uow.libraries.get(world.library.id)
    assert library is not None
    return library


def read(world: World, path: str) -> bytes:
    return b"".join(files.read_file(world.deps, world.user, world.library.id, path).chunks)


def missing_needed_objects(world: World) -> list[str]:
    """Objects that the head's kept history (by the recorded retention floor) lacks."""
    library = head_library(world)
    objects = LibraryObjects(world.store, library.id)
    problems: list[str] = []
    for commit in retention.history(objects.load_commit, library.head):
        assert commit.commit_id
    cutoff = library.expired_before or None
    for commit_id in retention.kept_commits(objects.load_commit, library.head, cutoff):
        root = objects.load_commit(commit_id).root_id
        if root == EMPTY_ID:
            continue
        for fs_id in tree.reachable_fs_ids(objects, root):
            obj = objects.load_fs(fs_id)
            if isinstance(obj, FileObject):
                problems.extend(b for b in world.store.missing(ObjectKind.BLOCK, library.id,
                                                               obj.block_ids))
    return problems


def stage(world: World, content: bytes) -> tuple[str, FileObject]:
    """Store a file's blocks and file object without committing (an upload in flight)."""
    file_obj = files.store_content(world.deps, world.library, [content])
    return LibraryObjects(world.store, world.library.id).put(file_obj), file_obj


def commit_staged(world: World, path: str, file_id: str, size: int) -> None:
    """Commit an already stored file object at `path` (the end of an upload)."""
    dirent = Dirent(id=file_id, mode=MODE_FILE, mtime=world.clock(), name=paths.basename(path),
                    size=size)

    def change(objs: LibraryObjects, root: str) -> tuple[str, str]:
        return tree.put_entry(objs, objs, root, "/", dirent, mtime=world.clock()), "staged"

    commit_change(world.deps, world.user, world.library.id, change)


def usage(store: MemoryObjectStore, scope: str) -> int:
    return sum(stat.size for kind in ObjectKind for stat in store.iter_stats(kind, scope))


def test_deleted_files_are_reclaimed_once_history_expires(world: World) -> None:
    big = bytes(range(256)) * 4096
    files.put_file(world.deps, world.user, world.library.id, "/keep.txt", [b"kept"])
    files.put_file(world.deps, world.user, world.library.id, "/big.bin", [big])
    before = usage(world.store, world.library.id)
    files.delete_path(world.deps, world.user, world.library.id, "/big.bin")
    # Within history retention the deleted file stays restorable: nothing is collected.
    world.clock.now += HOUR
    report = gc.collect_garbage(world.deps, POLICY)
    assert report.bytes < len(big)
    assert usage(world.store, world.library.id) > before - len(big) // 2
    # Once retention is over, its bytes go (dry run first reports them).
    world.clock.now += 2 * HOUR
    dry = gc.collect_garbage(world.deps, POLICY, dry_run=True)
    assert dry.bytes >= len(big)
    assert usage(world.store, world.library.id) > before - len(big) // 2
    report = gc.collect_garbage(world.deps, POLICY)
    assert report.bytes == dry.bytes
    # What remains beyond `before` minus the file: the deletion's commit and folder objects.
    assert usage(world.store, world.library.id) <= before - len(big) + 1024
    assert read(world, "/keep.txt") == b"kept"
    assert missing_needed_objects(world) == []
    assert head_library(world).expired_before == world.clock.now - 2 * HOUR


def test_objects_younger_than_the_grace_period_survive(world: World) -> None:
    file_id, file_obj = stage(world, b"in flight")
    world.clock.now += 30
    gc.collect_garbage(world.deps, POLICY)
    commit_staged(world, "/late.txt", file_id, file_obj.size)
    assert read(world, "/late.txt") == b"in flight"


def test_trash_is_purged_after_its_time(world: World) -> None:
    files.put_file(world.deps, world.user, world.library.id, "/a.txt", [b"a" * 1000])
    libraries.delete_library(world.deps, world.user, world.library.id)
    world.clock.now += HOUR // 2
    gc.collect_garbage(world.deps, POLICY)
    assert usage(world.store, world.library.id) > 1000
    world.clock.now += HOUR
    report = gc.collect_garbage(world.deps, POLICY)
    assert [r.purged for r in report.libraries] == [True]
    assert usage(world.store, world.library.id) == 0
    with world.deps.uow() as uow:
        assert uow.libraries.get(world.library.id, include_deleted=True) is None


def test_a_plan_made_before_bytes_are_reused_deletes_nothing_they_need(world: World) -> None:
    content = b"recycled" * 100
    files.put_file(world.deps, world.user, world.library.id, "/a", [content])
    files.delete_path(world.deps, world.user, world.library.id, "/a")
    world.clock.now += 3 * HOUR
    stale = gc.plan(world.deps, head_library(world), POLICY)
    assert stale.doomed  # the deleted file's objects, unreferenced and old
    files.put_file(world.deps, world.user, world.library.id, "/b", [content])
    finished, deleted, _ = gc.sweep(world.deps, stale)
    assert (finished, deleted) == (False, 0)
    assert read(world, "/b") == content
    assert missing_needed_objects(world) == []


class CollectAfterCheck(MemoryObjectStore):
    """A store that runs garbage collection the first time a writer flushes (the worst time)."""

    def __init__(self, inner: MemoryObjectStore, world: World) -> None:
        super().__init__()
        self.__dict__.update(inner.__dict__)
        self.world = world
        self.armed = True

    def flush(self) -> None:
        if self.armed:
            self.armed = False
            gc.collect_garbage(self.world.deps, POLICY)


def test_collection_between_check_and_head_move_cannot_lose_data(world: World) -> None:
    # An old block that no commit references any more...
    file_id, file_obj = stage(world, b"orphan" * 10)
    world.clock.now += 3 * HOUR
    racing = CollectAfterCheck(world.store, world)
    world.deps = Deps(uow=world.deps.uow, objects=racing, clock=world.clock,
                      close=world.deps.close)
    world.store = racing
    # ...is re-used by a commit while a collector deletes it after the commit's checks.
    with pytest.raises(InvalidRequest, match="missing"):
        commit_staged(world, "/orphan.txt", file_id, file_obj.size)
    assert missing_needed_objects(world) == []
    assert tree.lookup(LibraryObjects(racing, world.library.id),
                       LibraryObjects(racing, world.library.id).root_of(
                           head_library(world).head), "/orphan.txt") is None


class GcRaces(RuleBasedStateMachine):
    """Uploads, commits, deletions, clock jumps and collection phases in any interleaving."""

    def __init__(self) -> None:
        super().__init__()
        self.world = make_world(Path(f"/tmp/sesame-gc-{uuid.uuid4().hex}"))
        self.model: dict[str, bytes] = {}
        self.staged: list[tuple[str, FileObject, bytes]] = []
        self.plans: list[gc.GcPlan] = []

    def teardown(self) -> None:
        self.world.deps.close()

    @rule(path=st.sampled_from(PATHS), content=st.sampled_from(RACE_CONTENTS))
    def put(self, path: str, content: bytes) -> None:
        files.put_file(self.world.deps, self.world.user, self.world.library.id, path, [content])
        self.model[path] = content

    @rule(content=st.sampled_from(RACE_CONTENTS))
    def stage_upload(self, content: bytes) -> None:
        file_id, file_obj = stage(self.world, content)
        self.staged.append((file_id, file_obj, content))

    @precondition(lambda self: self.staged)
    @rule(path=st.sampled_from(PATHS), data=st.data())
    def finish_upload(self, path: str, data: st.DataObject) -> None:
        file_id, file_obj, content = self.staged.pop(
            data.draw(st.integers(0, len(self.staged) - 1)))
        try:
            commit_staged(self.world, path, file_id, file_obj.size)
        except InvalidRequest:
            return  # its objects were collected: the upload fails, nothing is lost
        self.model[path] = content

    @precondition(lambda self: self.model)
    @rule(data=st.data())
    def delete(self, data: st.DataObject) -> None:
        path = data.draw(st.sampled_from(sorted(self.model)))
        files.delete_path(self.world.deps, self.world.user, self.world.library.id, path)
        del self.model[path]

    @rule(seconds=st.sampled_from([59, 61, 3 * HOUR]))
    def tick(self, seconds: int) -> None:
        self.world.clock.now += seconds

    @rule()
    def plan_collection(self) -> None:
        self.plans.append(gc.plan(self.world.deps, head_library(self.world), POLICY))

    @rule()
    def plan_after_retention(self) -> None:
        self.world.clock.now += 3 * HOUR
        self.plan_collection()

    @precondition(lambda self: self.plans)
    @rule()
    def sweep_oldest_plan(self) -> None:
        gc.sweep(self.world.deps, self.plans.pop(0))

    @rule()
    def collect(self) -> None:
        gc.collect_library(self.world.deps, self.world.library.id, POLICY, dry_run=False)

    @invariant()
    def every_committed_file_reads_back(self) -> None:
        for path, content in self.model.items():
            assert read(self.world, path) == content

    @invariant()
    def kept_history_is_complete(self) -> None:
        assert missing_needed_objects(self.world) == []


TestGcRaces = GcRaces.TestCase
TestGcRaces.settings = settings(max_examples=80, stateful_step_count=15, deadline=None,
                                suppress_health_check=[HealthCheck.too_slow])


def test_a_change_started_from_a_collected_head_is_redone_on_the_new_head(world: World) -> None:
    no_history = GcPolicy(history_seconds=0, trash_seconds=0, grace_seconds=0)
    files.put_file(world.deps, world.user, world.library.id, "/a", [b"a" * 100])
    attempts: list[str] = []

    def delete_a(objs: LibraryObjects, root: str) -> tuple[str, str]:
        attempts.append(root)
        if len(attempts) == 1:  # meanwhile another writer commits and a collector runs
            world.clock.now += 1
            files.put_file(world.deps, world.user, world.library.id, "/b", [b"b" * 100])
            world.clock.now += 1
            assert gc.collect_garbage(world.deps, no_history).objects > 0
        return tree.remove_entry(objs, objs, root, "/a"), 'Deleted "a".'

    commit_change(world.deps, world.user, world.library.id, delete_a)
    assert len(attempts) == 2
    assert read(world, "/b") == b"b" * 100
    assert missing_needed_objects(world) == []


def test_collector_clears_the_lapsed_fence_of_a_killed_collector(world: World) -> None:
    library = head_library(world)
    with world.deps.uow() as uow:  # a collector raised its fence and was killed
        assert uow.libraries.raise_gc_fence(library.id, head=library.head, gc_epoch=0,
                                            until=world.clock() + gc.FENCE_LEASE_SECONDS,
                                            expired_before=0)
        uow.commit()
    busy = gc.collect_library(world.deps, library.id, POLICY, dry_run=False)
    assert busy.error == "another collector is deleting in this library"
    world.clock.now += gc.FENCE_LEASE_SECONDS
    done = gc.collect_library(world.deps, library.id, POLICY, dry_run=False)
    assert done.error is None
    assert head_library(world).gc_epoch % 2 == 0
