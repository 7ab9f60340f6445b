"""Making server-side commits and moving a library head by compare-and-swap."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from sesamedisk.domain import codec
from sesamedisk.domain.objects import SERVER_CREATOR, Commit
from sesamedisk.domain.records import Library, User
from sesamedisk.errors import HeadMoved, LibraryDeleted, LibraryNotFound
from sesamedisk.ports.deps import Deps
from sesamedisk.ports.objects import ObjectKind
from sesamedisk.services.library_objects import LibraryObjects

MAX_HEAD_RETRIES = 20


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


def load_live_library(deps: Deps, library_id: str) -> Library:
    """The library, raising LibraryNotFound or LibraryDeleted."""
    with deps.uow() as uow:
        library = uow.libraries.get(library_id, include_deleted=True)
    return require_live(library, library_id)


def require_live(library: Library | None, library_id: str) -> Library:
    """`library` if it exists and is not deleted; LibraryNotFound or LibraryDeleted."""
    if library is None:
        raise LibraryNotFound(f"library {library_id} does not exist")
    if library.deleted_at is not None:
        raise LibraryDeleted(f"library {library_id} was deleted")
    return library


def commit_change(deps: Deps, actor: User, library_id: str,
                  change: Callable[[LibraryObjects, str], tuple[str, str]]) -> Commit:
    """Apply `change(objects, head_root) -> (new_root, description)` as a new head commit.

    The change is re-applied on the newest head when another writer moved it meanwhile,
    so concurrent edits are never lost and the head only moves by compare-and-swap.
    """
    for _ in range(MAX_HEAD_RETRIES):
        library = load_live_library(deps, library_id)
        objects = LibraryObjects(deps.objects, library_id)
        head = objects.load_commit(library.head)
        new_root, description = change(objects, head.root_id)
        if new_root == head.root_id:
            return head
        commit = store_new_commit(objects, build_commit(
            library, root_id=new_root, parent_id=head.commit_id, author_email=actor.email,
            description=description, ctime=deps.clock()))
        deps.objects.flush()
        with deps.uow() as uow:
            moved = uow.libraries.advance_head(library_id, expected=head.commit_id,
                                               new=commit.commit_id, now=deps.clock())
            uow.commit()
        if moved:
            return commit
    raise HeadMoved(f"library {library_id} kept changing; try again")
