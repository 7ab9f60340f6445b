"""Resumable uploads of large files: sessions in SQL, chunks appended by compare-and-swap.

A session records (received, final blocks, tail block) after each accepted chunk, so any
app server can continue it after a dropped connection, a reload or a restart. Blocks a
request stores before its state is recorded are garbage until then: a crash or a refused
chunk leaves the previous state intact. Only the session's owner sees it
(docs/adr/0010-resumable-uploads.md).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, replace

from sesamedisk.domain import crypto, paths, tree
from sesamedisk.domain.objects import MODE_FILE, Dirent, FileObject
from sesamedisk.domain.records import Library, User
from sesamedisk.domain.retention import GcPolicy
from sesamedisk.domain.uploads import Upload, UploadBlock, numbered_name
from sesamedisk.errors import (
    Conflict,
    Corrupted,
    InvalidRequest,
    LibraryNotFound,
    NotFound,
    TooManyRequests,
    Unavailable,
)
from sesamedisk.ports.deps import Deps
from sesamedisk.ports.objects import ObjectKind
from sesamedisk.services.commits import commit_change, load_writable_library
from sesamedisk.services.libraries import get_library, writable_library
from sesamedisk.services.library_objects import LibraryObjects
from sesamedisk.services.upload_chunks import ingest, read_tail

MAX_UPLOAD_BYTES = 1 << 40
"""Largest file a session accepts (1 TiB)."""
MAX_MTIME = (1 << 63) - 1
"""The largest modification time a signed 64-bit column (and Seafile's fs objects) can hold."""
MAX_OPEN_UPLOADS_PER_USER = 500
"""Unfinished sessions one user may hold (abandoned ones expire with `gc`, ADR 0010)."""
MAX_NUMBERED_NAMES = 1000
_SHA256_HEX = re.compile(r"^[0-9a-fA-F]{64}$")


class UploadOffsetMismatch(Conflict):
    """The chunk does not start where the upload stands; `received` says where it does."""

    def __init__(self, received: int) -> None:
        super().__init__(f"the upload has received {received} bytes: send from there")
        self.received = received


@dataclass(frozen=True)
class UploadState:
    """An upload as its owner sees it; `dirent` is set once the file is committed."""

    id: str
    library_id: str
    path: str
    size: int
    received: int
    dirent: Dirent | None = None


def _state(upload: Upload, dirent: Dirent | None = None) -> UploadState:
    return UploadState(upload.id, upload.library_id, upload.path, upload.size,
                       upload.received, dirent)


def _own(deps: Deps, actor: User, upload_id: str) -> Upload:
    with deps.uow() as uow:
        upload = uow.uploads.get(upload_id)
    if upload is None or upload.user_id != actor.id:
        raise NotFound(f"no upload {upload_id}")
    return upload


def _file_path(path: str) -> str:
    target = paths.normalize(path)
    if paths.is_root(target):
        raise InvalidRequest("a file path must name a file")
    paths.validate_name(paths.basename(target))
    return target


def start_upload(deps: Deps, actor: User, library_id: str, path: str, size: int, *,
                 mtime: int | None = None, replace: bool = False) -> UploadState:
    """Open a session for a file of `size` bytes at `path` (an empty file commits at once)."""
    library = writable_library(deps, actor, library_id)
    target = _file_path(path)
    if not 0 <= size <= MAX_UPLOAD_BYTES:
        raise InvalidRequest(f"size must be between 0 and {MAX_UPLOAD_BYTES} bytes")
    if mtime is not None and not 0 <= mtime <= MAX_MTIME:
        raise InvalidRequest(f"mtime must be between 0 and {MAX_MTIME}")
    now = deps.clock()
    upload = Upload(id=secrets.token_hex(16), user_id=actor.id, library_id=library.id,
                    path=target, size=size, received=0, tail_block_id=None, mtime=mtime,
                    replace=replace, created_at=now, updated_at=now)
    with deps.uow() as uow:
        if uow.uploads.count_for_user(actor.id) >= MAX_OPEN_UPLOADS_PER_USER:
            raise TooManyRequests(f"you have {MAX_OPEN_UPLOADS_PER_USER} unfinished uploads: "
                                  "finish or cancel some before starting another")
        uow.uploads.add(upload)
        uow.commit()
    return _finish(deps, actor, upload) if size == 0 else _state(upload)


def find_upload(deps: Deps, actor: User, library_id: str, path: str,
                size: int) -> UploadState | None:
    """The actor's open session for this file and size, to resume it; None if there is none."""
    library = get_library(deps, actor, library_id)
    if not 0 <= size <= MAX_UPLOAD_BYTES:
        return None  # no session can have that size
    with deps.uow() as uow:
        upload = uow.uploads.find(user_id=actor.id, library_id=library.id,
                                  path=_file_path(path), size=size)
    return None if upload is None else _state(upload)


def get_upload(deps: Deps, actor: User, upload_id: str) -> UploadState:
    """The actor's session; NotFound for anyone else's."""
    return _state(_own(deps, actor, upload_id))


def cancel_upload(deps: Deps, actor: User, upload_id: str) -> None:
    """Forget the actor's session; its stored blocks become garbage."""
    _own(deps, actor, upload_id)
    with deps.uow() as uow:
        uow.uploads.delete(upload_id)
        uow.commit()


def _check_chunk(upload: Upload, offset: int, length: int | None,
                 chunk_sha256: str | None) -> None:
    if offset != upload.received:
        raise UploadOffsetMismatch(upload.received)
    if length is not None and not 0 <= length <= upload.size - offset:
        raise InvalidRequest(f"the chunk goes past the file's {upload.size} bytes")
    if chunk_sha256 is not None and not _SHA256_HEX.match(chunk_sha256):
        raise InvalidRequest("the chunk's SHA-256 must be 64 hex digits")


def append_chunk(deps: Deps, actor: User, upload_id: str, offset: int,
                 body: Iterable[bytes | bytearray],
                 *, file_key: crypto.FileKey | None = None, chunk_sha256: str | None = None,
                 length: int | None = None) -> UploadState:
    """Append the bytes of `body` at `offset`; the last byte commits the file.

    `length` (the announced chunk size) and `chunk_sha256` are checked before anything is
    recorded; a mismatch is InvalidRequest and leaves the session as it was. A chunk not
    starting at `received` is UploadOffsetMismatch. An empty chunk at the end finishes an
    upload whose bytes were all recorded but whose commit was cut short.
    """
    upload = _own(deps, actor, upload_id)
    library = writable_library(deps, actor, upload.library_id)
    key = _file_key(library, file_key)
    _check_chunk(upload, offset, length, chunk_sha256)
    if upload.complete:
        return _finish(deps, actor, upload)
    tail = read_tail(deps.objects, library.id, key, upload.tail_block_id)
    limit = upload.size - upload.received if length is None else length
    result = ingest(deps.objects, library.id, key, tail, body, limit=limit,
                    sha256=chunk_sha256 is not None)
    if length is not None and result.received != length:
        raise InvalidRequest(f"the chunk has {result.received} bytes, not {length}")
    if chunk_sha256 is not None and result.sha256 != chunk_sha256.lower():
        raise InvalidRequest("the chunk's SHA-256 does not match X-Chunk-SHA256")
    if result.received == 0:
        return _state(upload)
    received = upload.received + result.received
    final = received == upload.size
    blocks = result.chunks if final else result.chunks[:-1]
    tail_id = None if final or not result.chunks else result.chunks[-1].block_id
    _record(deps, upload, received, blocks, tail_id)
    advanced = replace(upload, received=received, tail_block_id=tail_id)
    return _finish(deps, actor, advanced) if final else _state(advanced)


def _file_key(library: Library, file_key: crypto.FileKey | None) -> crypto.FileKey | None:
    if library.encrypted and file_key is None:
        raise InvalidRequest("the library is encrypted: unlock it with its password first")
    return file_key if library.encrypted else None


def _record(deps: Deps, upload: Upload, received: int, blocks: list[UploadBlock],
            tail_id: str | None) -> None:
    """Move `received` forward by compare-and-swap once the new blocks are durable.

    The library row stays locked while the blocks are checked and recorded, and only
    while no garbage collector deletes in the library (even GC epoch): a collector's
    next batch starts after this commit and re-reads the open sessions' blocks.
    """
    deps.objects.flush()
    wanted = [block.block_id for block in blocks] + ([tail_id] if tail_id else [])
    while True:
        load_writable_library(deps, upload.library_id)
        with deps.uow() as uow:
            epoch = uow.uploads.lock_gc_epoch(upload.library_id)
            if epoch is None:
                raise LibraryNotFound(f"library {upload.library_id} does not exist")
            if epoch % 2:
                continue  # a deletion batch began meanwhile: wait for its end
            if deps.objects.missing(ObjectKind.BLOCK, upload.library_id, wanted):
                raise Unavailable("garbage collection took a block of this chunk; send it again")
            if not uow.uploads.advance(upload.id, expected=upload.received, new=received,
                                       blocks=blocks, tail_block_id=tail_id,
                                       now=deps.clock()):
                current = uow.uploads.get(upload.id)
                if current is None:
                    raise NotFound(f"no upload {upload.id}")
                raise UploadOffsetMismatch(current.received)
            uow.commit()
            return


def _finish(deps: Deps, actor: User, upload: Upload) -> UploadState:
    """Commit a fully received upload as a file and forget the session."""
    with deps.uow() as uow:
        blocks = uow.uploads.blocks(upload.id)
    stored = sum(block.size for block in blocks)
    if stored != upload.size:
        raise Corrupted(f"upload {upload.id} holds {stored} bytes, not {upload.size}")
    objects = LibraryObjects(deps.objects, upload.library_id)
    file_id = objects.put(FileObject(block_ids=tuple(b.block_id for b in blocks),
                                     size=upload.size))
    parent, name = paths.parent(upload.path), paths.basename(upload.path)
    when = upload.mtime if upload.mtime is not None else deps.clock()
    chosen = Dirent(id=file_id, mode=MODE_FILE, mtime=when, name=name, modifier=actor.email,
                    size=upload.size)

    def change(objs: LibraryObjects, root: str) -> tuple[str, str]:
        nonlocal chosen
        target, fresh = _target_name(objs, root, parent, name, file_id, replace=upload.replace)
        chosen = replace(chosen, name=target)
        if not fresh:
            return root, ""  # committed by an earlier, interrupted finish
        existed = tree.lookup(objs, root, paths.join(parent, target)) is not None
        new_root = tree.put_entry(objs, objs, root, parent, chosen, mtime=deps.clock())
        return new_root, f'{"Modified" if existed else "Added"} "{target}".'

    commit_change(deps, actor, upload.library_id, change)
    with deps.uow() as uow:
        uow.uploads.delete(upload.id)
        uow.commit()
    return _state(upload, chosen)


def _target_name(objs: LibraryObjects, root: str, parent: str, name: str, file_id: str, *,
                 replace: bool) -> tuple[str, bool]:
    """The name to commit the file under, and False when it is already there with this id.

    Without `replace` a taken name becomes "name (1).ext", "name (2).ext", ...
    """
    existing = tree.lookup(objs, root, paths.join(parent, name))
    if existing is None:
        return name, True
    if not existing.is_dir and existing.id == file_id:
        return name, False
    if replace:
        if existing.is_dir:
            raise InvalidRequest(f"{paths.join(parent, name)} is a folder")
        return name, True
    for number in range(1, MAX_NUMBERED_NAMES + 1):
        candidate = numbered_name(name, number)
        found = tree.lookup(objs, root, paths.join(parent, candidate))
        if found is None:
            return candidate, True
        if not found.is_dir and found.id == file_id:
            return candidate, False
    raise Conflict(f"too many files named like {name} in {parent}")


def referenced_blocks(deps: Deps, library_id: str) -> set[str]:
    """Blocks (tails included) the library's open upload sessions need: never garbage."""
    with deps.uow() as uow:
        return uow.uploads.referenced_blocks(library_id)


def expire_uploads(deps: Deps, policy: GcPolicy) -> int:
    """Forget sessions idle longer than the policy's upload expiry; how many there were."""
    with deps.uow() as uow:
        count = uow.uploads.delete_stale(
            updated_before=deps.clock() - policy.upload_expiry_seconds)
        uow.commit()
    return count
