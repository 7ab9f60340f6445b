"""Garbage collection: delete objects no kept commit needs, and purge expired libraries.

Safety (docs/adr/0009-garbage-collection.md): objects stored less than the grace period
ago are never collected (uploads in flight); deletions happen in batches under a fence
that only rises while the head is the one the plan marked from, and every head move
compares the GC epoch it read before checking its objects, so a commit can never go
live referencing an object deleted meanwhile.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from sesamedisk.domain.ids import EMPTY_ID
from sesamedisk.domain.objects import FileObject
from sesamedisk.domain.records import Library, User
from sesamedisk.domain.retention import GcPolicy, history, kept_commits
from sesamedisk.domain.tree import reachable_fs_ids
from sesamedisk.errors import PermissionDenied, SesameError
from sesamedisk.ports.deps import Deps
from sesamedisk.ports.objects import ObjectKind, ObjectStat
from sesamedisk.services.library_objects import LibraryObjects
from sesamedisk.services.uploads import expire_uploads, referenced_blocks

log = logging.getLogger(__name__)
BATCH_OBJECTS = 1000
BATCH_SECONDS = 10.0
"""A deletion batch stops after this long, far below the fence lease."""
FENCE_LEASE_SECONDS = 30
"""A killed collector's fence stops blocking writers after this long."""
MAX_REPLANS = 5


@dataclass
class GcPlan:
    """The unreferenced objects of one library, marked from one head and GC epoch."""

    library_id: str
    head: str
    gc_epoch: int
    expired_before: int
    doomed: list[tuple[ObjectKind, ObjectStat]] = field(default_factory=list)

    @property
    def reclaimable_bytes(self) -> int:
        """Bytes the doomed objects occupy (one copy)."""
        return sum(stat.size for _, stat in self.doomed)


@dataclass
class LibraryGcResult:
    """What collection found (dry run) or freed in one library."""

    library_id: str
    name: str
    objects: int = 0
    bytes: int = 0
    purged: bool = False
    error: str | None = None


@dataclass
class GcReport:
    """One garbage-collection run over every library."""

    dry_run: bool
    libraries: list[LibraryGcResult] = field(default_factory=list)

    @property
    def objects(self) -> int:
        """Objects deleted (or deletable, in a dry run)."""
        return sum(r.objects for r in self.libraries)

    @property
    def bytes(self) -> int:
        """Bytes freed (or reclaimable, in a dry run), one copy each."""
        return sum(r.bytes for r in self.libraries)

    @property
    def errors(self) -> list[str]:
        """Libraries that could not be collected, with the reason."""
        return [f"{r.library_id}: {r.error}" for r in self.libraries if r.error]


def _marked(objects: LibraryObjects, library: Library, cutoff: int | None
            ) -> dict[ObjectKind, set[str]]:
    """Every object id the library's kept history needs."""
    keep: dict[ObjectKind, set[str]] = {kind: set() for kind in ObjectKind}
    keep[ObjectKind.COMMIT] = {c.commit_id for c in history(objects.load_commit, library.head)}
    for commit_id in kept_commits(objects.load_commit, library.head, cutoff):
        root = objects.load_commit(commit_id).root_id
        if root == EMPTY_ID or root in keep[ObjectKind.FS]:
            continue
        for fs_id in reachable_fs_ids(objects, root):
            if fs_id in keep[ObjectKind.FS]:
                continue
            keep[ObjectKind.FS].add(fs_id)
            obj = objects.load_fs(fs_id)
            if isinstance(obj, FileObject):
                keep[ObjectKind.BLOCK].update(obj.block_ids)
    return keep


def plan(deps: Deps, library: Library, policy: GcPolicy) -> GcPlan:
    """Mark from the library's head; doom unmarked objects older than the grace period.

    Versions younger than the grace period are kept even with a shorter history, so a
    request that started from a recent head still finds its tree.
    """
    now = deps.clock()
    cutoff = None if policy.history_seconds is None else \
        now - max(policy.history_seconds, policy.grace_seconds)
    objects = LibraryObjects(deps.objects, library.id)
    keep = _marked(objects, library, cutoff)
    keep[ObjectKind.BLOCK] |= referenced_blocks(deps, library.id)  # open upload sessions
    young = now - policy.grace_seconds
    result = GcPlan(library.id, library.head, library.gc_epoch,
                    max(library.expired_before, cutoff or 0))
    for kind in (ObjectKind.COMMIT, ObjectKind.FS, ObjectKind.BLOCK):
        result.doomed.extend(
            (kind, stat) for stat in deps.objects.iter_stats(kind, library.id)
            if stat.object_id not in keep[kind] and stat.stored_at < young)
    return result


def _batches(plan_: GcPlan) -> Iterator[list[tuple[ObjectKind, ObjectStat]]]:
    for start in range(0, len(plan_.doomed), BATCH_OBJECTS):
        yield plan_.doomed[start:start + BATCH_OBJECTS]


def sweep(deps: Deps, plan_: GcPlan) -> tuple[bool, int, int]:
    """Delete the plan's objects batch by batch, each under the library's fence.

    Returns (finished, objects deleted, bytes freed); not finished when the head moved
    (or the fence lapsed) since the plan was made: plan again.
    """
    epoch, deleted, freed = plan_.gc_epoch, 0, 0
    pending = list(_batches(plan_))
    while pending:
        batch = pending.pop(0)
        with deps.uow() as uow:
            raised = uow.libraries.raise_gc_fence(
                plan_.library_id, head=plan_.head, gc_epoch=epoch,
                until=deps.clock() + FENCE_LEASE_SECONDS, expired_before=plan_.expired_before)
            uow.commit()
        if not raised:
            return False, deleted, freed
        epoch += 1
        # Under the fence no upload can record a block: spare what sessions hold now.
        spared = referenced_blocks(deps, plan_.library_id)
        batch = [(k, s) for k, s in batch if k != ObjectKind.BLOCK or s.object_id not in spared]
        deadline = time.monotonic() + BATCH_SECONDS
        done = 0
        for kind, stat in batch:
            if time.monotonic() > deadline:
                break
            deps.objects.delete(kind, plan_.library_id, stat.object_id)
            done += 1
            freed += stat.size
        deleted += done
        if done < len(batch):
            pending.insert(0, batch[done:])
        with deps.uow() as uow:
            lowered = uow.libraries.lower_gc_fence(plan_.library_id, gc_epoch=epoch)
            uow.commit()
        if not lowered:
            log.warning("gc fence of library %s lapsed during a batch", plan_.library_id)
            return False, deleted, freed
        epoch += 1
    return True, deleted, freed


def _scope_usage(deps: Deps, library_id: str) -> tuple[int, int]:
    count = size = 0
    for kind in ObjectKind:
        for stat in deps.objects.iter_stats(kind, library_id):
            count += 1
            size += stat.size
    return count, size


def purge(deps: Deps, library: Library, *, dry_run: bool) -> LibraryGcResult:
    """Remove a library whose trash time is over (or whose creation never finished)."""
    result = LibraryGcResult(library.id, library.name, purged=True)
    result.objects, result.bytes = _scope_usage(deps, library.id)
    if dry_run:
        return result
    with deps.uow() as uow:
        uow.libraries.mark_purging(library.id, now=deps.clock())
        uow.commit()
    deps.objects.delete_scope(library.id)
    with deps.uow() as uow:
        uow.libraries.remove(library.id)
        uow.commit()
    return result


def collect_library(deps: Deps, library_id: str, policy: GcPolicy, *,
                    dry_run: bool) -> LibraryGcResult:
    """Plan and (unless dry_run) sweep one live library, planning again if its head moves."""
    result = LibraryGcResult(library_id, "")
    for _ in range(MAX_REPLANS):
        with deps.uow() as uow:
            library = uow.libraries.get(library_id)
        if library is None:
            result.error = "library disappeared"
            return result
        result.name = library.name
        if library.gc_epoch % 2:
            if library.fenced(deps.clock()):
                result.error = "another collector is deleting in this library"
                return result
            with deps.uow() as uow:  # a killed collector's lapsed fence
                uow.libraries.lower_gc_fence(library_id, gc_epoch=library.gc_epoch,
                                             expired_by=deps.clock())
                uow.commit()
            continue
        marked = plan(deps, library, policy)
        if dry_run:
            result.objects, result.bytes = len(marked.doomed), marked.reclaimable_bytes
            return result
        finished, deleted, freed = sweep(deps, marked)
        result.objects += deleted
        result.bytes += freed
        if finished:
            return result
    result.error = "the library kept changing; collected what could be"
    return result


def _expired(deps: Deps, policy: GcPolicy) -> list[Library]:
    now = deps.clock()
    with deps.uow() as uow:
        everything = uow.libraries.list_all(include_deleted=True)
    return [lib for lib in everything
            if (lib.deleted_at is not None and lib.deleted_at < now - policy.trash_seconds)
            or (lib.creating and lib.created_at < now - policy.grace_seconds)]


def collect_garbage(deps: Deps, policy: GcPolicy, *, dry_run: bool = False) -> GcReport:
    """Collect every live library and purge expired ones; errors are reported, not raised."""
    report = GcReport(dry_run)
    if not dry_run:
        expire_uploads(deps, policy)
    for library in _expired(deps, policy):
        try:
            report.libraries.append(purge(deps, library, dry_run=dry_run))
        except SesameError as exc:
            report.libraries.append(LibraryGcResult(library.id, library.name, purged=True,
                                                    error=exc.message))
    with deps.uow() as uow:
        live = [lib.id for lib in uow.libraries.list_all()]
    for library_id in live:
        try:
            report.libraries.append(collect_library(deps, library_id, policy,
                                                    dry_run=dry_run))
        except SesameError as exc:
            report.libraries.append(LibraryGcResult(library_id, "", error=exc.message))
    return report


def reclaimable(deps: Deps, actor: User) -> GcReport:
    """A dry run of garbage collection with the server's policy (admins only)."""
    if not actor.is_admin:
        raise PermissionDenied("only admins may see garbage-collection reports")
    return collect_garbage(deps, deps.gc_policy, dry_run=True)
