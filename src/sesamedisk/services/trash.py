"""Recovery: deleted files and folders (the trash) and restoring any path from any commit."""

from __future__ import annotations

from dataclasses import dataclass, replace

from sesamedisk.domain import paths, tree
from sesamedisk.domain.ids import EMPTY_ID
from sesamedisk.domain.objects import Commit, Dirent
from sesamedisk.domain.records import User
from sesamedisk.domain.tree import Change, ChangeKind
from sesamedisk.errors import Conflict, InvalidRequest, ObjectNotFound, PathNotFound
from sesamedisk.ports.deps import Deps
from sesamedisk.services.commits import commit_change
from sesamedisk.services.history import library_commit, walk_commits
from sesamedisk.services.libraries import get_library, writable_library
from sesamedisk.services.library_objects import LibraryObjects

MAX_TRASH_SCAN = 1000
"""`list_trash` diffs at most this many commits (newest first), bounding its work."""
MAX_RESTORED_NAMES = 1000
"""How many " (restored N)" names are tried before a restore gives up."""


@dataclass(frozen=True)
class TrashItem:
    """A deleted file or folder; `commit_id` is the commit whose tree still holds it."""

    path: str
    dirent: Dirent
    size: int
    deleted_at: int
    commit_id: str


def _restored_names(name: str, is_dir: bool) -> list[str]:
    """`name`, then "stem (restored).ext", "stem (restored 2).ext", ..."""
    dot = -1 if is_dir else name.rfind(".")
    stem, ext = (name[:dot], name[dot:]) if dot > 0 else (name, "")
    return [name, f"{stem} (restored){ext}",
            *(f"{stem} (restored {n}){ext}" for n in range(2, MAX_RESTORED_NAMES))]


def _same(a: Dirent, b: Dirent) -> bool:
    return a.id == b.id and a.is_dir == b.is_dir


def _free_name(objects: LibraryObjects, root: str, parent: str, old: Dirent) -> str:
    """The first candidate name in `parent` that is free or already holds `old` itself."""
    for name in _restored_names(old.name, old.is_dir):
        current = tree.lookup(objects, root, paths.join(parent, name))
        if current is None or _same(current, old):
            return name
    raise Conflict(f"no free name to restore {old.name} under")


def restore_path(deps: Deps, actor: User, library_id: str, commit_id: str, path: str) -> str:
    """Put the file or folder at `path` in `commit_id` back into the head; its new path.

    A new commit is made (history is never rewritten); missing parent folders are recreated.
    When something different occupies the path, the entry comes back as
    "name (restored).ext" (then " (restored 2)", ...). Restoring what is already there is a
    no-op. A file standing where a parent folder is needed is a Conflict.
    """
    library = writable_library(deps, actor, library_id)
    objects = LibraryObjects(deps.objects, library.id)
    target = paths.normalize(path)
    if paths.is_root(target):
        raise InvalidRequest("the whole library is restored by reverting it")
    old = tree.lookup(objects, library_commit(objects, commit_id).root_id, target)
    if old is None:
        raise PathNotFound(f"{target} does not exist in that commit")
    parent = paths.parent(target)
    restored = target

    def change(objs: LibraryObjects, root: str) -> tuple[str, str]:
        nonlocal restored
        name = _free_name(objs, root, parent, old)
        restored = paths.join(parent, name)
        existing = tree.lookup(objs, root, restored)
        if existing is not None:
            return root, ""
        new_root = tree.put_entry(objs, objs, root, parent, replace(old, name=name),
                                  mtime=deps.clock())
        return new_root, f'Restored "{name}".'

    commit_change(deps, actor, library.id, change)
    return restored


def _history_cutoff(deps: Deps) -> int | None:
    """ctime before which garbage collection may have removed commits' trees."""
    policy = deps.gc_policy
    if policy.history_seconds is None:
        return None
    return deps.clock() - max(policy.history_seconds, policy.grace_seconds)


def _deletions(changes: list[Change]) -> list[tuple[Change, int]]:
    """Explicit deletions that are not moves, each with its size (a folder's content)."""
    moved = {c.new.id for c in changes if c.kind is ChangeKind.ADDED and not c.implied
             and c.new is not None and c.new.id != EMPTY_ID}
    found: list[tuple[Change, int]] = []
    for change in changes:
        if change.kind is not ChangeKind.DELETED or change.old is None:
            continue
        if change.implied:
            if found and paths.is_within(change.path, found[-1][0].path):
                found[-1] = (found[-1][0], found[-1][1] - change.size_delta)
            continue
        if change.old.id == EMPTY_ID or change.old.id not in moved:
            found.append((change, -change.size_delta))
    return found


def _deleted_in(objects: LibraryObjects, commit: Commit) -> list[tuple[Change, int]]:
    """What `commit` deleted relative to its first parent ([] when that tree is gone)."""
    if commit.parent_id is None:
        return []
    try:
        parent_root = objects.load_commit(commit.parent_id).root_id
        return _deletions(tree.diff(objects, parent_root, commit.root_id))
    except ObjectNotFound:
        return []


def list_trash(deps: Deps, actor: User, library_id: str, limit: int = 100) -> list[TrashItem]:
    """Deleted files and folders not present in the head, newest deletion first.

    Walks at most MAX_TRASH_SCAN commits and none older than history retention keeps;
    each path is listed once, with its latest deletion.
    """
    library = get_library(deps, actor, library_id)
    objects = LibraryObjects(deps.objects, library.id)
    head_root = objects.load_commit(library.head).root_id
    cutoff = _history_cutoff(deps)
    items: dict[str, TrashItem] = {}
    for scanned, commit in enumerate(walk_commits(objects, library.head)):
        if scanned >= MAX_TRASH_SCAN or len(items) >= limit:
            break
        if cutoff is not None and commit.ctime < cutoff:
            break
        for change, size in _deleted_in(objects, commit):
            if change.path in items or change.old is None \
                    or tree.lookup(objects, head_root, change.path) is not None:
                continue
            items[change.path] = TrashItem(
                path=change.path, dirent=change.old, size=size, deleted_at=commit.ctime,
                commit_id=str(commit.parent_id))
    return list(items.values())[:max(0, limit)]
