"""Path operations, walks and diffs over trees of Seafile fs objects.

Every function takes the root id of a tree and an `FsReader`; functions that change a tree take
an `FsWriter` too and return the new root id (objects are immutable, so every ancestor of a
changed entry gets a new id). `EMPTY_ID` is handled here: tree code never asks the reader for it
and never hands an empty directory to the writer. All traversals use explicit stacks, so
arbitrarily deep trees received from clients cannot exhaust Python's recursion limit.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Protocol

from sesamedisk.domain import paths
from sesamedisk.domain.ids import EMPTY_ID
from sesamedisk.domain.objects import MODE_DIR, Dirent, DirObject, FsObject
from sesamedisk.errors import AlreadyExists, InvalidRequest, PathNotFound


class FsReader(Protocol):
    """Loads directory objects; never called with EMPTY_ID by this module."""

    def load_dir(self, dir_id: str) -> DirObject:
        """The directory stored under `dir_id` (ObjectNotFound / Corrupted otherwise)."""
        ...


class FsWriter(Protocol):
    """Stores fs objects."""

    def put(self, obj: FsObject) -> str:
        """Store `obj` and return its id (EMPTY_ID, storing nothing, for an empty directory)."""
        ...


def load(reader: FsReader, dir_id: str) -> DirObject:
    """The directory `dir_id`, with EMPTY_ID read as the empty directory."""
    return DirObject() if dir_id == EMPTY_ID else reader.load_dir(dir_id)


def store(writer: FsWriter, directory: DirObject) -> str:
    """Store `directory` and return its id; EMPTY_ID without a write for an empty one."""
    return EMPTY_ID if directory.is_empty else writer.put(directory)


def root_dirent(root_id: str) -> Dirent:
    """The synthetic entry standing for the root (name `""`, mtime 0)."""
    return Dirent(id=root_id, mode=MODE_DIR, mtime=0, name="")


def _with(directory: DirObject, dirent: Dirent) -> DirObject:
    kept = [d for d in directory.dirents if d.name != dirent.name]
    kept.append(dirent)
    return DirObject.of(kept)


def _without(directory: DirObject, name: str) -> DirObject:
    return DirObject(tuple(d for d in directory.dirents if d.name != name))


def lookup(reader: FsReader, root_id: str, path: str) -> Dirent | None:
    """The entry at `path`, None if it does not exist; the root gives `root_dirent`."""
    current = root_dirent(root_id)
    for name in paths.split(path):
        if not current.is_dir:
            return None
        found = load(reader, current.id).get(name)
        if found is None:
            return None
        current = found
    return current


def list_dir(reader: FsReader, root_id: str, path: str) -> DirObject:
    """The directory at `path`; PathNotFound if it is missing or is a file."""
    dirent = lookup(reader, root_id, path)
    if dirent is None or not dirent.is_dir:
        raise PathNotFound(f"no folder {paths.normalize(path)}")
    return load(reader, dirent.id)


def _chain(reader: FsReader, root_id: str, parts: tuple[str, ...], *, create: bool,
           mtime: int) -> list[tuple[Dirent, DirObject]]:
    """(dirent, dir) for the root and each folder along `parts`, inventing missing ones."""
    chain = [(root_dirent(root_id), load(reader, root_id))]
    for depth, name in enumerate(parts):
        found = chain[-1][1].get(name)
        where = paths.from_parts(parts[:depth + 1])
        if found is None:
            if not create:
                raise PathNotFound(f"no folder {where}")
            chain.append((Dirent(id=EMPTY_ID, mode=MODE_DIR, mtime=mtime, name=name),
                          DirObject()))
        elif not found.is_dir:
            raise AlreadyExists(f"{where} is a file, not a folder")
        else:
            chain.append((found, load(reader, found.id)))
    return chain


def _rebuild(writer: FsWriter, chain: list[tuple[Dirent, DirObject]], new_leaf: DirObject,
             *, mtime: int | None) -> str:
    """Store `new_leaf` in place of the last dir of `chain` and every ancestor; new root id."""
    leaf_dirent = chain[-1][0]
    child_id = store(writer, new_leaf)
    child = replace(leaf_dirent, id=child_id,
                    mtime=leaf_dirent.mtime if mtime is None else mtime)
    for dirent, directory in reversed(chain[:-1]):
        child_id = store(writer, _with(directory, child))
        child = replace(dirent, id=child_id)
    return child_id


def put_entry(reader: FsReader, writer: FsWriter, root_id: str, parent_path: str,
              dirent: Dirent, *, mtime: int, create_parents: bool = True) -> str:
    """Add or replace `dirent` in folder `parent_path`; return the new root id.

    The entry is stored as given. The parent folder's own entry gets `mtime`; folders created on
    the way get mode MODE_DIR and `mtime`; other ancestors keep their mtimes. Raises
    PathNotFound for a missing parent when `create_parents` is False, and AlreadyExists when a
    file stands where a folder is needed.
    """
    paths.validate_name(dirent.name)
    parts = paths.split(parent_path)
    chain = _chain(reader, root_id, parts, create=create_parents, mtime=mtime)
    return _rebuild(writer, chain, _with(chain[-1][1], dirent), mtime=mtime)


def remove_entry(reader: FsReader, writer: FsWriter, root_id: str, path: str, *,
                 mtime: int | None = None) -> str:
    """Remove the file or folder at `path` (PathNotFound if absent); return the new root id.

    With `mtime`, the parent folder's entry gets that mtime; otherwise mtimes are unchanged.
    """
    parts = paths.split(path)
    if not parts:
        raise InvalidRequest("the library root cannot be removed")
    try:
        chain = _chain(reader, root_id, parts[:-1], create=False, mtime=0)
    except (PathNotFound, AlreadyExists) as exc:
        raise PathNotFound(f"no file or folder {paths.from_parts(parts)}") from exc
    if chain[-1][1].get(parts[-1]) is None:
        raise PathNotFound(f"no file or folder {paths.from_parts(parts)}")
    return _rebuild(writer, chain, _without(chain[-1][1], parts[-1]), mtime=mtime)


def move_entry(reader: FsReader, writer: FsWriter, root_id: str, src_path: str,  # noqa: PLR0917
               dst_parent: str, new_name: str, *, mtime: int) -> str:
    """Move (and/or rename) `src_path` to `dst_parent/new_name`; return the new root id.

    The moved entry keeps its id and mtime; both parent folders get `mtime`. Raises PathNotFound
    for a missing source or destination folder, AlreadyExists when the destination name is taken
    (moving an entry onto itself is a no-op), InvalidRequest for the root or for moving a folder
    into itself.
    """
    src_parts = paths.split(src_path)
    dst = paths.join(dst_parent, new_name)
    if not src_parts:
        raise InvalidRequest("the library root cannot be moved")
    source = lookup(reader, root_id, src_path)
    if source is None:
        raise PathNotFound(f"no file or folder {paths.from_parts(src_parts)}")
    if paths.split(dst) == src_parts:
        return root_id
    if source.is_dir and paths.is_within(dst_parent, src_path):
        raise InvalidRequest("a folder cannot be moved into itself")
    target_dir = lookup(reader, root_id, dst_parent)
    if target_dir is None or not target_dir.is_dir:
        raise PathNotFound(f"no folder {paths.normalize(dst_parent)}")
    if load(reader, target_dir.id).get(new_name) is not None:
        raise AlreadyExists(f"{dst} already exists")
    removed = remove_entry(reader, writer, root_id, src_path, mtime=mtime)
    return put_entry(reader, writer, removed, dst_parent, replace(source, name=new_name),
                     mtime=mtime, create_parents=False)


def _by_name(directory: DirObject) -> dict[str, Dirent]:
    return {dirent.name: dirent for dirent in directory.dirents}


def _child_path(parent: str, name: str) -> str:
    return f"{parent}/{name}" if parent != "/" else f"/{name}"


def walk(reader: FsReader, root_id: str) -> Iterator[tuple[str, Dirent]]:
    """Every entry below the root as (full path, dirent), pre-order, in stored order."""
    stack: list[Iterator[Dirent]] = [iter(load(reader, root_id).dirents)]
    prefixes = ["/"]
    while stack:
        dirent = next(stack[-1], None)
        if dirent is None:
            stack.pop()
            prefixes.pop()
            continue
        path = _child_path(prefixes[-1], dirent.name)
        yield path, dirent
        if dirent.is_dir and dirent.id != EMPTY_ID:
            stack.append(iter(load(reader, dirent.id).dirents))
            prefixes.append(path)


def reachable_fs_ids(reader: FsReader, root_id: str) -> Iterator[str]:
    """Each dir and file object id reachable from the root once, without EMPTY_ID."""
    seen: set[str] = set()
    pending = [root_id]
    while pending:
        dir_id = pending.pop()
        if dir_id == EMPTY_ID or dir_id in seen:
            continue
        seen.add(dir_id)
        yield dir_id
        for dirent in load(reader, dir_id).dirents:
            if dirent.is_dir:
                pending.append(dirent.id)
            elif dirent.id != EMPTY_ID and dirent.id not in seen:
                seen.add(dirent.id)
                yield dirent.id


def new_fs_ids(reader: FsReader, new_root: str, old_root: str) -> Iterator[str]:
    """Ids reachable from `new_root` that may be missing under `old_root`, each once.

    Walks both trees side by side and skips any entry whose id equals the old entry of the same
    path. The result covers every id not reachable from `old_root`; it can also contain ids that
    the old tree holds at another path (a moved folder), which Seafile clients simply skip.
    """
    seen: set[str] = set()
    pending = [(new_root, old_root)]
    while pending:
        new_id, old_id = pending.pop()
        if new_id in (old_id, EMPTY_ID) or new_id in seen:
            continue
        seen.add(new_id)
        yield new_id
        old_entries = _by_name(load(reader, old_id))
        for dirent in load(reader, new_id).dirents:
            before = old_entries.get(dirent.name)
            if before is not None and before.id == dirent.id:
                continue
            if dirent.is_dir:
                old_sub = before.id if before is not None and before.is_dir else EMPTY_ID
                pending.append((dirent.id, old_sub))
            elif dirent.id != EMPTY_ID and dirent.id not in seen:
                seen.add(dirent.id)
                yield dirent.id


class ChangeKind(StrEnum):
    """What happened to a path between two trees."""

    ADDED = "added"
    DELETED = "deleted"
    MODIFIED = "modified"


@dataclass(frozen=True, slots=True)
class Change:
    """One changed path; `implied` marks entries inside an added or deleted folder."""

    kind: ChangeKind
    path: str
    old: Dirent | None
    new: Dirent | None
    implied: bool = False

    @property
    def is_dir(self) -> bool:
        """True when the changed entry is a folder."""
        dirent = self.new if self.new is not None else self.old
        return dirent is not None and dirent.is_dir

    @property
    def size_delta(self) -> int:
        """Bytes of file content added (positive) or removed (negative) by this change."""
        new = 0 if self.new is None or self.new.is_dir else self.new.size or 0
        old = 0 if self.old is None or self.old.is_dir else self.old.size or 0
        return new - old


def _subtree(reader: FsReader, kind: ChangeKind, path: str,
             dirent: Dirent) -> Iterator[Change]:
    """The change for `dirent` and, for a folder, implied changes for all of its content."""
    added = kind is ChangeKind.ADDED
    yield Change(kind, path, None if added else dirent, dirent if added else None)
    if not dirent.is_dir or dirent.id == EMPTY_ID:
        return
    stack = [(path, load(reader, dirent.id))]
    while stack:
        prefix, directory = stack.pop()
        for child in directory.dirents:
            child_path = _child_path(prefix, child.name)
            yield Change(kind, child_path, None if added else child, child if added else None,
                         implied=True)
            if child.is_dir and child.id != EMPTY_ID:
                stack.append((child_path, load(reader, child.id)))


def diff(reader: FsReader, old_root: str, new_root: str) -> list[Change]:
    """Files and folders added, deleted or modified from `old_root` to `new_root`.

    A file is modified when its id or mode changed. Folders are reported only when added or
    deleted (with their content as implied changes); a folder present on both sides is
    descended into. A file replaced by a folder (or the reverse) is a deletion plus an addition.
    Summing `size_delta` over the result gives the change in library size.
    """
    changes: list[Change] = []
    pending = [("/", old_root, new_root)]
    while pending:
        prefix, old_id, new_id = pending.pop()
        if old_id == new_id:
            continue
        old_entries, new_entries = _by_name(load(reader, old_id)), _by_name(load(reader, new_id))
        subdirs = []
        for name in sorted(old_entries.keys() | new_entries.keys(), reverse=True):
            path = _child_path(prefix, name)
            before, after = old_entries.get(name), new_entries.get(name)
            if before is not None and after is not None and before.is_dir and after.is_dir:
                subdirs.append((path, before.id, after.id))
            elif before is not None and after is not None and not before.is_dir \
                    and not after.is_dir:
                if before.id != after.id or before.mode != after.mode:
                    changes.append(Change(ChangeKind.MODIFIED, path, before, after))
            else:
                if before is not None:
                    changes.extend(_subtree(reader, ChangeKind.DELETED, path, before))
                if after is not None:
                    changes.extend(_subtree(reader, ChangeKind.ADDED, path, after))
        pending.extend(reversed(subdirs))
    return changes


def size_delta(changes: list[Change]) -> int:
    """The total change in file bytes described by `changes` (as returned by `diff`)."""
    return sum(change.size_delta for change in changes)
