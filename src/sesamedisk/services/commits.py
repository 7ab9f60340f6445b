"""Making server-side commits and moving a library head by compare-and-swap."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

from sesamedisk.domain import codec, tree
from sesamedisk.domain.objects import SERVER_CREATOR, Commit, FileObject
from sesamedisk.domain.records import Library, User
from sesamedisk.errors import (
    HeadMoved,
    InvalidRequest,
    LibraryDeleted,
    LibraryNotFound,
    ObjectNotFound,
    Unavailable,
)
from sesamedisk.ports.deps import Deps
from sesamedisk.ports.objects import ObjectKind
from sesamedisk.services.library_objects import LibraryObjects

MAX_HEAD_RETRIES = 20
FENCE_WAIT_SECONDS = 60.0
"""How long a writer waits for a garbage collector's deletion batch to end."""


def build_commit(library: Library, *, root_id: str, parent_id: str | None, author_email: str,
                 description: str, ctime: int, second_parent_id: str | None = None,
                 conflict: bool = False, new_merge: bool = False) -> Commit:
    """A server-made commit carrying the library's current name, description and encryption."""
    cid = codec.commit_id(root_id=root_id, creator=SERVER_CREATOR, creator_name=author_email,
                          description=description, ctime=ctime)
    return Commit(commit_id=cid, root_id=root_id, repo_id=library.id, creator=SERVER_CREATOR,
                  creator_name=author_email, description=description, ctime=ctime,
                  parent_id=parent_id, second_parent_id=second_parent_id,
                  repo_name=library.name, repo_desc=library.description,
                  encryption=library.encryption, conflict=conflict, new_merge=new_merge)


def store_new_commit(objects: LibraryObjects, commit: Commit) -> Commit:
    """Store `commit`, moving its ctime forward if a different commit already has its id."""
    while objects.store.exists(ObjectKind.COMMIT, objects.library_id, commit.commit_id):
        existing = objects.load_commit(commit.commit_id)
        if existing.parents == commit.parents and existing.root_id == commit.root_id:
            return existing
        ctime = commit.ctime + 1
        commit = replace(commit, ctime=ctime, commit_id=codec.commit_id(
            root_id=commit.root_id, creator=commit.creator, creator_name=commit.creator_name,
            description=commit.description, ctime=ctime))
    objects.save_commit(commit)
    return commit


CHECK_CHUNK = 1000
"""Ids per existence query when checking a new tree."""


def require_complete(objects: LibraryObjects, root_id: str, base_root: str) -> None:
    """Refuse a tree that references fs objects or blocks the store does not have.

    Only what is new relative to `base_root` (whose objects are known stored) is checked.
    """
    store, scope = objects.store, objects.library_id
    try:
        new_ids = list(tree.new_fs_ids(objects, root_id, base_root))
    except ObjectNotFound as exc:
        raise InvalidRequest(f"commit references a missing fs object: {exc.message}") from exc
    missing = store.missing(ObjectKind.FS, scope, new_ids)
    if missing:
        raise InvalidRequest(f"commit references missing fs object {missing[0]}")
    blocks: list[str] = []
    for fs_id in new_ids:
        obj = objects.load_fs(fs_id)
        if isinstance(obj, FileObject):
            blocks.extend(obj.block_ids)
    for start in range(0, len(blocks), CHECK_CHUNK):
        lacking = store.missing(ObjectKind.BLOCK, scope, blocks[start:start + CHECK_CHUNK])
        if lacking:
            raise InvalidRequest(f"commit references missing block {lacking[0]}")


def load_live_library(deps: Deps, library_id: str) -> Library:
    """The library, raising LibraryNotFound or LibraryDeleted."""
    with deps.uow() as uow:
        library = uow.libraries.get(library_id, include_deleted=True)
    return require_live(library, library_id)


def require_live(library: Library | None, library_id: str) -> Library:
    """`library` if it exists and is not deleted; LibraryNotFound or LibraryDeleted."""
    if library is None or library.creating:
        raise LibraryNotFound(f"library {library_id} does not exist")
    if library.deleted_at is not None:
        raise LibraryDeleted(f"library {library_id} was deleted")
    return library


def load_writable_library(deps: Deps, library_id: str) -> Library:
    """The live library once no garbage collector is deleting in it (lapsed fences cleared).

    The returned `gc_epoch` goes into the head's compare-and-swap: read it before checking
    or writing objects, so a deletion batch in between makes the swap fail.
    """
    deadline = time.monotonic() + FENCE_WAIT_SECONDS
    while True:
        library = load_live_library(deps, library_id)
        if library.gc_epoch % 2 == 0:
            return library
        now = deps.clock()
        if not library.fenced(now):
            with deps.uow() as uow:
                uow.libraries.lower_gc_fence(library_id, gc_epoch=library.gc_epoch,
                                             expired_by=now)
                uow.commit()
            continue
        if time.monotonic() > deadline:
            raise Unavailable(f"library {library_id} is being garbage-collected; try again")
        time.sleep(0.05)


def _moved(deps: Deps, seen: Library) -> bool:
    """True when the head or the GC epoch changed since `seen` was read."""
    now = load_live_library(deps, seen.id)
    return (now.head, now.gc_epoch) != (seen.head, seen.gc_epoch)


def commit_change(deps: Deps, actor: User, library_id: str,
                  change: Callable[[LibraryObjects, str], tuple[str, str]]) -> Commit:
    """Apply `change(objects, head_root) -> (new_root, description)` as a new head commit.

    The change is re-applied on the newest head when another writer moved it meanwhile,
    so concurrent edits are never lost and the head only moves by compare-and-swap.
    """
    for _ in range(MAX_HEAD_RETRIES):
        library = load_writable_library(deps, library_id)
        objects = LibraryObjects(deps.objects, library_id)
        try:
            head = objects.load_commit(library.head)
            new_root, description = change(objects, head.root_id)
        except ObjectNotFound:
            if _moved(deps, library):
                continue  # garbage collection took the old head's tree: use the new head
            raise
        if new_root == head.root_id:
            return head
        # Objects stored before this attempt may have been collected since: check them
        # after reading the GC epoch that the head's compare-and-swap below compares.
        require_complete(objects, new_root, head.root_id)
        commit = store_new_commit(objects, build_commit(
            library, root_id=new_root, parent_id=head.commit_id, author_email=actor.email,
            description=description, ctime=deps.clock()))
        deps.objects.flush()
        with deps.uow() as uow:
            moved = uow.libraries.advance_head(library_id, expected=head.commit_id,
                                               new=commit.commit_id, now=deps.clock(),
                                               gc_epoch=library.gc_epoch)
            uow.commit()
        if moved:
            return commit
    raise HeadMoved(f"library {library_id} kept changing; try again")
