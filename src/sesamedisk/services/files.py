"""Server-side file operations at a path; every change is a new commit."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from sesamedisk.domain import chunking, codec, crypto, paths, tree
from sesamedisk.domain.access import can_write
from sesamedisk.domain.ids import EMPTY_ID
from sesamedisk.domain.objects import MODE_DIR, MODE_FILE, Dirent, DirObject, FileObject
from sesamedisk.domain.records import Library, User
from sesamedisk.errors import InvalidRequest, ObjectNotFound, PathNotFound, PermissionDenied
from sesamedisk.ports.deps import Deps
from sesamedisk.ports.objects import ObjectKind
from sesamedisk.services.commits import MAX_HEAD_RETRIES, commit_change
from sesamedisk.services.libraries import get_library
from sesamedisk.services.library_objects import LibraryObjects


@dataclass(frozen=True)
class FileContent:
    """A file's metadata and a lazy stream of its plaintext."""

    dirent: Dirent
    size: int
    chunks: Iterator[bytes]


def _writable(deps: Deps, actor: User, library_id: str) -> Library:
    library = get_library(deps, actor, library_id)
    if not can_write(actor, library):
        raise PermissionDenied("no write permission on this library")
    return library


def _key_for(library: Library, file_key: crypto.FileKey | None) -> crypto.FileKey | None:
    if library.encrypted and file_key is None:
        raise InvalidRequest("the library is encrypted: unlock it with its password first")
    return file_key if library.encrypted else None


def store_content(deps: Deps, library: Library, content: Iterable[bytes],
                  file_key: crypto.FileKey | None = None) -> FileObject:
    """Chunk, (encrypt,) hash and store content as blocks; memory stays bounded."""
    key = _key_for(library, file_key)
    block_ids: list[str] = []
    size = 0
    for chunk in chunking.chunk_stream(content):
        size += len(chunk)
        data = crypto.encrypt_block(key, chunk) if key else bytes(chunk)
        block_id = codec.sha1_hex(data)
        deps.objects.put(ObjectKind.BLOCK, library.id, block_id, data)
        block_ids.append(block_id)
    return FileObject(block_ids=tuple(block_ids), size=size)


def put_file(deps: Deps, actor: User, library_id: str, path: str, content: Iterable[bytes],
             *, file_key: crypto.FileKey | None = None, mtime: int | None = None) -> Dirent:
    """Create or replace the file at `path` with `content`."""
    library = _writable(deps, actor, library_id)
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
    library = _writable(deps, actor, library_id)
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
    library = _writable(deps, actor, library_id)
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


def move_path(deps: Deps, actor: User, library_id: str, path: str, *, dst_dir: str,
              new_name: str | None = None) -> None:
    """Move and/or rename a file or folder inside one library."""
    library = _writable(deps, actor, library_id)
    src = paths.normalize(path)
    dst_parent = paths.normalize(dst_dir)
    if paths.is_root(src):
        raise InvalidRequest("the library root cannot be moved")
    old_name = paths.basename(src)
    name = paths.validate_name(new_name) if new_name is not None else old_name

    def change(objs: LibraryObjects, root: str) -> tuple[str, str]:
        new_root = tree.move_entry(objs, objs, root, src, dst_parent, name, mtime=deps.clock())
        same_dir = paths.parent(src) == dst_parent
        text = f'Renamed "{old_name}" to "{name}".' if same_dir else f'Moved "{old_name}".'
        return new_root, text

    commit_change(deps, actor, library.id, change)


def list_dir(deps: Deps, actor: User, library_id: str, path: str = "/") -> DirObject:
    """The entries of a folder."""
    library = get_library(deps, actor, library_id)
    objects = LibraryObjects(deps.objects, library.id)
    head = objects.load_commit(library.head)
    return tree.list_dir(objects, head.root_id, paths.normalize(path))


def _locate(objects: LibraryObjects, head_id: str, target: str) -> tuple[Dirent, FileObject]:
    """The file's entry and object at `target` in the head's tree; PathNotFound if none."""
    dirent = tree.lookup(objects, objects.load_commit(head_id).root_id, target)
    if dirent is None or dirent.is_dir:
        raise PathNotFound(f"{target} is not a file")
    return dirent, objects.load_file(dirent.id)


def read_file(deps: Deps, actor: User, library_id: str, path: str, *,
              file_key: crypto.FileKey | None = None) -> FileContent:
    """A file's plaintext as a stream of blocks, read one block at a time."""
    library = get_library(deps, actor, library_id)
    key = _key_for(library, file_key)
    objects = LibraryObjects(deps.objects, library.id)
    target = paths.normalize(path)
    for attempt in range(MAX_HEAD_RETRIES):
        try:
            dirent, file_obj = _locate(objects, library.head, target)
            break
        except ObjectNotFound:
            # Garbage collection may have taken the tree of a head that moved meanwhile.
            newer = get_library(deps, actor, library_id)
            if newer.head == library.head or attempt == MAX_HEAD_RETRIES - 1:
                raise
            library = newer

    def stream() -> Iterator[bytes]:
        for block_id in file_obj.block_ids:
            data = deps.objects.get(ObjectKind.BLOCK, library.id, block_id)
            yield crypto.decrypt_block(key, data) if key else data

    return FileContent(dirent=dirent, size=file_obj.size, chunks=stream())
