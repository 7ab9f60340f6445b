"""Server-side file operations at a path; every change is a new commit."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TypeVar

from sesamedisk.domain import chunking, codec, crypto, paths, tree
from sesamedisk.domain.ids import EMPTY_ID
from sesamedisk.domain.objects import (
    MODE_DIR,
    MODE_FILE,
    Dirent,
    DirObject,
    FileObject,
    FsObject,
)
from sesamedisk.domain.records import Library, User
from sesamedisk.errors import (
    InvalidRequest,
    LibraryLocked,
    ObjectNotFound,
    PathNotFound,
)
from sesamedisk.ports.deps import Deps
from sesamedisk.ports.objects import ObjectKind
from sesamedisk.services.block_pipeline import BlockPipeline
from sesamedisk.services.commits import MAX_HEAD_RETRIES, commit_change
from sesamedisk.services.libraries import get_library, writable_library
from sesamedisk.services.library_objects import LibraryObjects

T = TypeVar("T")


@dataclass(frozen=True)
class FileContent:
    """A file's metadata and a lazy stream of its plaintext."""

    dirent: Dirent
    size: int
    chunks: Iterator[bytes]


def key_for(library: Library, file_key: crypto.FileKey | None) -> crypto.FileKey | None:
    """The key to use for `library`: None if plain; LibraryLocked if encrypted without key."""
    if not library.encrypted:
        return None
    if file_key is None:
        raise LibraryLocked(f"library {library.id} is encrypted: unlock it with its password "
                            "first")
    return file_key


def store_content(deps: Deps, library: Library, content: Iterable[bytes],
                  file_key: crypto.FileKey | None = None) -> FileObject:
    """Chunk, (encrypt,) hash and store content as blocks; memory stays bounded."""
    with BlockPipeline(deps.objects, library.id, key_for(library, file_key)) as blocks:
        blocks.add_all(chunking.chunk_stream(content))
    return FileObject(block_ids=tuple(b.block_id for b in blocks.blocks),
                      size=sum(b.size for b in blocks.blocks))


def put_file(deps: Deps, actor: User, library_id: str, path: str, content: Iterable[bytes],
             *, file_key: crypto.FileKey | None = None, mtime: int | None = None) -> Dirent:
    """Create or replace the file at `path` with `content`."""
    library = writable_library(deps, actor, library_id)
    target = paths.normalize(path)
    if paths.is_root(target):
        raise InvalidRequest("a file path must name a file")
    parent, name = paths.parent(target), paths.basename(target)
    file_obj = store_content(deps, library, content, file_key)
    objects = LibraryObjects(deps.objects, library.id)
    file_id = objects.put(file_obj)
    when = mtime if mtime is not None else deps.clock()
    dirent = Dirent(id=file_id, mode=MODE_FILE, mtime=when, name=name, modifier=actor.email,
                    size=file_obj.size)

    def change(objs: LibraryObjects, root: str) -> tuple[str, str]:
        existing = tree.lookup(objs, root, paths.join(parent, name))
        if existing is not None and existing.is_dir:
            raise InvalidRequest(f"{path} is a folder")
        verb = "Modified" if existing is not None else "Added"
        new_root = tree.put_entry(objs, objs, root, parent, dirent, mtime=deps.clock())
        return new_root, f'{verb} "{name}".'

    commit_change(deps, actor, library.id, change)
    return dirent


def make_dir(deps: Deps, actor: User, library_id: str, path: str) -> None:
    """Create a folder (and missing parents); fine if it already exists."""
    library = writable_library(deps, actor, library_id)
    target = paths.normalize(path)
    if paths.is_root(target):
        return
    parent, name = paths.parent(target), paths.basename(target)

    def change(objs: LibraryObjects, root: str) -> tuple[str, str]:
        existing = tree.lookup(objs, root, paths.join(parent, name))
        if existing is not None:
            if not existing.is_dir:
                raise InvalidRequest(f"{path} is a file")
            return root, ""
        now = deps.clock()
        dirent = Dirent(id=EMPTY_ID, mode=MODE_DIR, mtime=now, name=name)
        return tree.put_entry(objs, objs, root, parent, dirent, mtime=now), \
            f'Added directory "{name}".'

    commit_change(deps, actor, library.id, change)


def delete_path(deps: Deps, actor: User, library_id: str, path: str) -> None:
    """Delete a file or folder."""
    library = writable_library(deps, actor, library_id)
    target = paths.normalize(path)
    if target == "/":
        raise InvalidRequest("the library root cannot be deleted")

    def change(objs: LibraryObjects, root: str) -> tuple[str, str]:
        existing = tree.lookup(objs, root, target)
        if existing is None:
            raise PathNotFound(f"{target} does not exist")
        what = "directory " if existing.is_dir else ""
        return tree.remove_entry(objs, objs, root, target), f'Deleted {what}"{existing.name}".'

    commit_change(deps, actor, library.id, change)


def free_name(directory: DirObject, name: str, *, is_dir: bool) -> str:
    """`name` if `directory` lacks it, else Seafile's `stem (n).ext` with the smallest free n.

    Folders never split off an extension; a leading dot (`.bashrc`) is not an extension.
    """
    if directory.get(name) is None:
        return name
    stem, dot, ext = name.rpartition(".")
    if is_dir or not stem:
        stem, dot, ext = name, "", ""
    taken = {dirent.name for dirent in directory.dirents}
    for number in itertools.count(1):
        candidate = f"{stem} ({number}){dot}{ext}"
        if candidate not in taken:
            return paths.validate_name(candidate)
    raise AssertionError("unreachable")  # pragma: no cover


def _folder(objs: LibraryObjects, root: str, path: str) -> DirObject:
    """The folder at `path` in the tree `root`; PathNotFound if it is missing or a file."""
    found = tree.lookup(objs, root, path)
    if found is None or not found.is_dir:
        raise PathNotFound(f"no folder {path}")
    return tree.load(objs, found.id)


def _source(objs: LibraryObjects, root: str, src: str, dst_parent: str, verb: str) -> Dirent:
    """The entry to move or copy; refuses a missing one and a folder going below itself."""
    source = tree.lookup(objs, root, src)
    if source is None:
        raise PathNotFound(f"{src} does not exist")
    if source.is_dir and paths.is_within(dst_parent, src):
        raise InvalidRequest(f"a folder cannot be {verb} into itself or one of its subfolders")
    return source


@dataclass(frozen=True)
class Relocation:
    """A copy or move, normalised: the source path, the destination folder, the wanted name."""

    src: str
    dst_parent: str
    name: str


def relocation(path: str, dst_dir: str, new_name: str | None, *, verb: str) -> Relocation:
    """Normalise a copy or move; InvalidRequest for the root or an invalid new name."""
    src = paths.normalize(path)
    if paths.is_root(src):
        raise InvalidRequest(f"the library root cannot be {verb}")
    name = paths.validate_name(new_name) if new_name is not None else paths.basename(src)
    return Relocation(src=src, dst_parent=paths.normalize(dst_dir), name=name)


def move_path(deps: Deps, actor: User, library_id: str, path: str, *, dst_dir: str,
              new_name: str | None = None) -> str:
    """Move and/or rename a file or folder inside one library; returns its new path.

    Like Seafile's web interface, a name already taken in `dst_dir` becomes `name (1).ext`
    (moving an entry onto itself changes nothing). A folder cannot go into its own subtree.
    """
    library = writable_library(deps, actor, library_id)
    wanted = relocation(path, dst_dir, new_name, verb="moved")
    src, dst_parent, old_name = wanted.src, wanted.dst_parent, paths.basename(wanted.src)
    final = [src]

    def change(objs: LibraryObjects, root: str) -> tuple[str, str]:
        source = _source(objs, root, src, dst_parent, "moved")
        same_dir = paths.parent(src) == dst_parent
        name = wanted.name if same_dir and wanted.name == old_name else free_name(
            _folder(objs, root, dst_parent), wanted.name, is_dir=source.is_dir)
        new_root = tree.move_entry(objs, objs, root, src, dst_parent, name, mtime=deps.clock())
        final[0] = paths.join(dst_parent, name)
        text = f'Renamed "{old_name}" to "{name}".' if same_dir else f'Moved "{old_name}".'
        return new_root, text

    commit_change(deps, actor, library.id, change)
    return final[0]


def copy_path(deps: Deps, actor: User, library_id: str, path: str, *, dst_dir: str,
              new_name: str | None = None) -> str:
    """Copy a file or folder inside one library; returns the copy's path.

    Objects are content-addressed, so the copy reuses the source's entry (same id and mtime)
    and no byte is copied. A taken name in `dst_dir` becomes `name (1).ext` (Seafile's web
    behaviour); copying a folder into itself or one of its subfolders is refused.
    """
    library = writable_library(deps, actor, library_id)
    wanted = relocation(path, dst_dir, new_name, verb="copied")
    src, dst_parent = wanted.src, wanted.dst_parent
    final = [src]

    def change(objs: LibraryObjects, root: str) -> tuple[str, str]:
        source = _source(objs, root, src, dst_parent, "copied")
        name = free_name(_folder(objs, root, dst_parent), wanted.name, is_dir=source.is_dir)
        new_root = tree.put_entry(objs, objs, root, dst_parent, replace(source, name=name),
                                  mtime=deps.clock(), create_parents=False)
        final[0] = paths.join(dst_parent, name)
        return new_root, f'Copied "{source.name}" to "{name}".'

    commit_change(deps, actor, library.id, change)
    return final[0]


class _StagedObjects:
    """An FsReader/FsWriter keeping new fs objects in memory until the final tree is known.

    Several edits in one commit then store only the directories the final tree uses, not
    every intermediate version of each ancestor.
    """

    def __init__(self, objects: LibraryObjects) -> None:
        self._objects = objects
        self._new: dict[str, FsObject] = {}

    def load_dir(self, dir_id: str) -> DirObject:
        """A staged directory, else the stored one."""
        staged = self._new.get(dir_id)
        return staged if isinstance(staged, DirObject) else self._objects.load_dir(dir_id)

    def put(self, obj: FsObject) -> str:
        """Stage `obj` and return its id."""
        object_id = codec.fs_id(obj)
        if object_id != EMPTY_ID:
            self._new[object_id] = obj
        return object_id

    def store_used(self, new_root: str, old_root: str) -> None:
        """Store the staged objects that the tree `new_root` references."""
        for fs_id in tree.new_fs_ids(self, new_root, old_root):
            staged = self._new.get(fs_id)
            if staged is not None:
                self._objects.put(staged)


def _deletion_targets(targets: Sequence[str]) -> list[str]:
    """Normalised, de-duplicated paths without those inside another one of them."""
    if not targets:
        raise InvalidRequest("no paths to delete")
    normalized = sorted({paths.normalize(target) for target in targets},
                        key=lambda p: len(paths.split(p)))
    if "/" in normalized:
        raise InvalidRequest("the library root cannot be deleted")
    kept: list[str] = []
    for target in normalized:
        if not any(paths.is_within(target, outer) for outer in kept):
            kept.append(target)
    return kept


def delete_paths(deps: Deps, actor: User, library_id: str, targets: Sequence[str]) -> None:
    """Delete several files and folders in one commit; nothing is deleted if one is missing."""
    library = writable_library(deps, actor, library_id)
    wanted = _deletion_targets(targets)

    def change(objs: LibraryObjects, root: str) -> tuple[str, str]:
        names = []
        for target in wanted:
            found = tree.lookup(objs, root, target)
            if found is None:
                raise PathNotFound(f"{target} does not exist")
            names.append(found.name)
        staged = _StagedObjects(objs)
        new_root = root
        for target in wanted:
            new_root = tree.remove_entry(staged, staged, new_root, target)
        staged.store_used(new_root, root)
        more = f" and {len(names) - 1} more items" if len(names) > 1 else ""
        return new_root, f'Deleted "{names[0]}"{more}.'

    commit_change(deps, actor, library.id, change)


def list_dir(deps: Deps, actor: User, library_id: str, path: str = "/") -> DirObject:
    """The entries of a folder."""
    library = get_library(deps, actor, library_id)
    objects = LibraryObjects(deps.objects, library.id)
    head = objects.load_commit(library.head)
    return tree.list_dir(objects, head.root_id, paths.normalize(path))


def at_head(deps: Deps, actor: User, library_id: str,
            find: Callable[[LibraryObjects, str], T]) -> tuple[Library, T]:
    """`find(objects, head_root)` on the library's head, retried if the head moves meanwhile.

    Garbage collection may take the tree of a head that moved after it was read.
    """
    library = get_library(deps, actor, library_id)
    objects = LibraryObjects(deps.objects, library.id)
    for attempt in range(MAX_HEAD_RETRIES):
        try:
            return library, find(objects, objects.load_commit(library.head).root_id)
        except ObjectNotFound:
            newer = get_library(deps, actor, library_id)
            if newer.head == library.head or attempt == MAX_HEAD_RETRIES - 1:
                raise
            library = newer
    raise AssertionError("unreachable")  # pragma: no cover


@dataclass(frozen=True)
class FoundFile:
    """A file found at a library's head: the library, the file's entry and its object."""

    library: Library
    dirent: Dirent
    file_obj: FileObject


@dataclass(frozen=True)
class OpenFile(FoundFile):
    """A found file with the key to decrypt it (None for a plain library)."""

    key: crypto.FileKey | None


def find_file(deps: Deps, actor: User, library_id: str, path: str) -> FoundFile:
    """The file at `path` in the head of a library `actor` may read; PathNotFound if none.

    Needs no key: an encrypted library's entries and file objects are not encrypted.
    """
    target = paths.normalize(path)

    def find(objects: LibraryObjects, root: str) -> tuple[Dirent, FileObject]:
        dirent = tree.lookup(objects, root, target)
        if dirent is None or dirent.is_dir:
            raise PathNotFound(f"no file {target}")
        return dirent, objects.load_file(dirent.id)

    library, (dirent, file_obj) = at_head(deps, actor, library_id, find)
    return FoundFile(library=library, dirent=dirent, file_obj=file_obj)


def open_file(deps: Deps, actor: User, library_id: str, path: str, *,
              file_key: crypto.FileKey | None = None) -> OpenFile:
    """The file at `path` in the head; PathNotFound if none, LibraryLocked if locked."""
    found = find_file(deps, actor, library_id, path)
    return OpenFile(library=found.library, dirent=found.dirent, file_obj=found.file_obj,
                    key=key_for(found.library, file_key))


def read_file(deps: Deps, actor: User, library_id: str, path: str, *,
              file_key: crypto.FileKey | None = None) -> FileContent:
    """A file's plaintext as a stream of blocks, read one block at a time."""
    opened = open_file(deps, actor, library_id, path, file_key=file_key)
    library_id, key = opened.library.id, opened.key

    def stream() -> Iterator[bytes]:
        for block_id in opened.file_obj.block_ids:
            data = deps.objects.get(ObjectKind.BLOCK, library_id, block_id)
            yield crypto.decrypt_block(key, data) if key else data

    return FileContent(dirent=opened.dirent, size=opened.file_obj.size, chunks=stream())
