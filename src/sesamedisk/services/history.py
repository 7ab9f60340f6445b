"""A library's history: its commits, old snapshots, a file's versions, and reverting."""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from sesamedisk.domain import crypto, paths, tree
from sesamedisk.domain.ids import require_object_id
from sesamedisk.domain.objects import Commit, Dirent, DirObject
from sesamedisk.domain.records import User
from sesamedisk.errors import LibraryLocked, ObjectNotFound, PathNotFound
from sesamedisk.ports.deps import Deps
from sesamedisk.services.commits import commit_change
from sesamedisk.services.downloads import RangedContent, range_of
from sesamedisk.services.files import OpenFile
from sesamedisk.services.libraries import get_library, writable_library
from sesamedisk.services.library_objects import LibraryObjects

MAX_PAGE = 500
"""Most commits one `list_commits` call returns."""
MAX_VERSION_SCAN = 1000
"""`file_history` looks at most at this many commits (newest first), bounding its work."""


@dataclass(frozen=True)
class FileVersion:
    """One version of a file: the commit that made it and the file it made."""

    commit: Commit
    file_id: str
    size: int


def walk_commits(objects: LibraryObjects, head_id: str) -> Iterator[Commit]:
    """Commits reachable from the head (both parents), each once, newest ctime first.

    Equal ctimes keep discovery order, so a child always comes before its parents. A parent
    that history retention or garbage collection removed ends that line quietly.
    """
    heap: list[tuple[int, int, Commit]] = []
    seen = {head_id}
    order = 0
    heapq.heappush(heap, (0, order, objects.load_commit(head_id)))
    while heap:
        _, _, commit = heapq.heappop(heap)
        yield commit
        for parent_id in commit.parents:
            if parent_id in seen:
                continue
            seen.add(parent_id)
            try:
                parent = objects.load_commit(parent_id)
            except ObjectNotFound:
                continue
            order += 1
            heapq.heappush(heap, (-parent.ctime, order, parent))


def library_commit(objects: LibraryObjects, commit_id: str) -> Commit:
    """A commit stored in this library's scope; a foreign or unknown id is ObjectNotFound."""
    commit = objects.load_commit(require_object_id(commit_id, "commit id"))
    if commit.repo_id != objects.library_id:
        raise ObjectNotFound(f"commit {commit_id} does not belong to this library")
    return commit


def list_commits(deps: Deps, actor: User, library_id: str, limit: int = 50,
                 offset: int = 0) -> list[Commit]:
    """A page of the library's commits, newest first."""
    library = get_library(deps, actor, library_id)
    limit, offset = max(0, min(limit, MAX_PAGE)), max(0, offset)
    objects = LibraryObjects(deps.objects, library.id)
    page: list[Commit] = []
    for index, commit in enumerate(walk_commits(objects, library.head)):
        if index >= offset + limit:
            break
        if index >= offset:
            page.append(commit)
    return page


def list_dir_at(deps: Deps, actor: User, library_id: str, commit_id: str,
                path: str = "/") -> DirObject:
    """The entries of a folder as it was in one of the library's commits."""
    library = get_library(deps, actor, library_id)
    objects = LibraryObjects(deps.objects, library.id)
    commit = library_commit(objects, commit_id)
    return tree.list_dir(objects, commit.root_id, paths.normalize(path))


def read_file_at(deps: Deps, actor: User, library_id: str, commit_id: str, path: str, *,
                 file_key: crypto.FileKey | None = None) -> RangedContent:
    """A file's plaintext as it was in one commit, streamed one block at a time."""
    library = get_library(deps, actor, library_id)
    if library.encrypted and file_key is None:
        raise LibraryLocked("the library is encrypted: unlock it with its password first")
    key = file_key if library.encrypted else None
    objects = LibraryObjects(deps.objects, library.id)
    target = paths.normalize(path)
    dirent = tree.lookup(objects, library_commit(objects, commit_id).root_id, target)
    if dirent is None or dirent.is_dir:
        raise PathNotFound(f"{target} is not a file in that commit")
    opened = OpenFile(library=library, dirent=dirent, file_obj=objects.load_file(dirent.id),
                      key=key)
    return range_of(deps.objects, opened)


def _file_at(objects: LibraryObjects, known: dict[str, Dirent | None], commit_id: str,
             path: str) -> Dirent | None:
    """The file at `path` in a commit (None if absent, a folder, or the tree is gone)."""
    if commit_id not in known:
        try:
            found = tree.lookup(objects, objects.load_commit(commit_id).root_id, path)
        except ObjectNotFound:
            found = None
        known[commit_id] = found if found is not None and not found.is_dir else None
    return known[commit_id]


def file_history(deps: Deps, actor: User, library_id: str, path: str) -> list[FileVersion]:
    """Every commit that gave the file at `path` new content, newest first.

    A commit counts when its file differs from the file at that path in each of its parents
    (so a merge that only carries over a version is not listed). Only the newest
    MAX_VERSION_SCAN commits are examined; commits whose trees history retention removed
    end the walk.
    """
    library = get_library(deps, actor, library_id)
    objects = LibraryObjects(deps.objects, library.id)
    target = paths.normalize(path)
    if paths.is_root(target):
        raise PathNotFound("the library root is not a file")
    known: dict[str, Dirent | None] = {}
    versions: list[FileVersion] = []
    for scanned, commit in enumerate(walk_commits(objects, library.head)):
        if scanned >= MAX_VERSION_SCAN:
            break
        try:
            found = tree.lookup(objects, commit.root_id, target)
        except ObjectNotFound:
            break
        current = known[commit.commit_id] = found if found and not found.is_dir else None
        if current is None:
            continue
        before = [_file_at(objects, known, parent, target) for parent in commit.parents]
        if all(old is None or old.id != current.id for old in before):
            versions.append(FileVersion(commit=commit, file_id=current.id,
                                        size=current.size or 0))
    return versions


def _when(ctime: int) -> str:
    return datetime.fromtimestamp(ctime, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def revert_library(deps: Deps, actor: User, library_id: str, commit_id: str) -> Commit:
    """A new head commit whose tree is that of `commit_id`; history keeps every commit.

    Returns the current head unchanged when the trees are already equal.
    """
    library = writable_library(deps, actor, library_id)
    objects = LibraryObjects(deps.objects, library.id)
    target = library_commit(objects, commit_id)
    text = f"Reverted library to status at {_when(target.ctime)}."

    def change(_objs: LibraryObjects, _root: str) -> tuple[str, str]:
        return target.root_id, text

    return commit_change(deps, actor, library.id, change)
