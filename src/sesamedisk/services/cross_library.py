"""Copy and move files and folders from one library into another, re-encrypting as needed.

Objects are stored per library (the store's scope is the library id): dedup never crosses
libraries, and a library's placement and regions apply to every object in its scope. A copy
into another library therefore writes every block and fs object of the subtree into the
destination's scope; the destination's regions then apply without anything else to do.

How the bytes travel (memory stays bounded by a few blocks, never by file size):
- Same key on both sides (both plain, or the very same file key): blocks and fs objects
  keep their ids. Each block the destination lacks is streamed `open_read` -> `open_writer`
  in 1 MiB pieces; fs objects are copied byte for byte.
- Different keys (plain -> encrypted, encrypted -> plain, two encrypted libraries with
  different keys): each block is read whole (at most one block, 8 MiB), decrypted with the
  source's key if the source is encrypted, encrypted with the destination's key if the
  destination is, and stored under the SHA-1 of the new bytes. Blocks are not re-chunked:
  enc_version 2 encrypts each block on its own, so a block's plaintext boundaries stay
  valid. File objects then list the new block ids (same plaintext size), and every folder
  above them gets a new id.
The caller passes the unlocked file key of each encrypted side (the web keeps them per
session, see web/unlocks.py); an encrypted side without a key is LibraryLocked (440).

Permissions: read on the source, write on the destination, and write on the source too for
a move. The copy lands in the destination folder like a same-library copy: a taken name
becomes `name (1).ext` (`services.files.free_name`).

A move is a copy committed in the destination, then a commit deleting the source. If that
deletion fails (or the source changed meanwhile: Conflict, and the source is kept), the data
exists twice rather than zero times; never the other way round.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from sesamedisk.domain import codec, crypto, paths, tree
from sesamedisk.domain.ids import EMPTY_ID
from sesamedisk.domain.objects import Dirent, DirObject, FileObject, FsObject
from sesamedisk.domain.records import Library, User
from sesamedisk.errors import Conflict, Corrupted, PathNotFound
from sesamedisk.ports.deps import Deps
from sesamedisk.ports.objects import ObjectKind, ObjectStore
from sesamedisk.services import files, libraries
from sesamedisk.services.commits import CHECK_CHUNK, commit_change
from sesamedisk.services.libraries import get_library
from sesamedisk.services.library_objects import LibraryObjects

STREAM_PIECE = 1024 * 1024
"""Bytes per read when a block is streamed unchanged into the destination."""


@dataclass
class _Copier:
    """Copies objects of one library's subtrees into another library's scope.

    Remembers what it copied (old id -> new id), so a file or folder that appears several
    times in the subtree, or again after a retry, is copied once.
    """

    store: ObjectStore
    src: str
    dst: str
    src_key: crypto.FileKey | None
    dst_key: crypto.FileKey | None
    blocks: dict[str, str] = field(default_factory=dict)
    fs: dict[str, str] = field(default_factory=dict)

    @property
    def recode(self) -> bool:
        """True when blocks must be decrypted and/or encrypted on the way."""
        return self.src_key != self.dst_key

    def entry(self, dirent: Dirent) -> Dirent:
        """`dirent` pointing at its copy in the destination (all objects stored)."""
        new_id = self._dir(dirent.id) if dirent.is_dir else self._file(dirent.id)
        return replace(dirent, id=new_id)

    def _read(self, fs_id: str) -> tuple[bytes, FsObject]:
        """The raw bytes and the decoded fs object `fs_id` of the source.

        `LibraryObjects.load_fs` does the same checks but drops the raw bytes, which a copy
        under the same key stores unchanged; reading through it as well would read twice.
        """
        raw = self.store.get(ObjectKind.FS, self.src, fs_id)
        text = codec.decompress(raw)
        if codec.sha1_hex(text) != fs_id:
            raise Corrupted(f"fs object {fs_id} of library {self.src} is corrupted")
        return raw, codec.decode_fs_json(text)

    def _keep(self, fs_id: str, raw: bytes) -> str:
        """Store the source's fs object unchanged in the destination."""
        if not self.store.exists(ObjectKind.FS, self.dst, fs_id):
            self.store.put(ObjectKind.FS, self.dst, fs_id, raw)
        return fs_id

    def _file(self, file_id: str) -> str:
        if file_id == EMPTY_ID:
            return EMPTY_ID
        done = self.fs.get(file_id)
        if done is not None:
            return done
        raw, obj = self._read(file_id)
        if not isinstance(obj, FileObject):
            raise Corrupted(f"fs object {file_id} is a directory where a file was expected")
        block_ids = self._blocks(obj.block_ids)
        if self.recode:
            new_id = LibraryObjects(self.store, self.dst).put(replace(obj, block_ids=block_ids))
        else:
            new_id = self._keep(file_id, raw)
        self.fs[file_id] = new_id
        return new_id

    def _dir(self, dir_id: str) -> str:
        """Copy the folder `dir_id` and everything below it; its id in the destination.

        Post-order with an explicit stack (client trees may be arbitrarily deep): a folder is
        stored only after all of its sub-folders are.
        """
        pending: list[tuple[str, tuple[bytes, DirObject] | None]] = [(dir_id, None)]
        while pending:
            current, loaded = pending.pop()
            if current == EMPTY_ID or current in self.fs:
                continue
            if loaded is None:
                raw, obj = self._read(current)
                if not isinstance(obj, DirObject):
                    raise Corrupted(f"fs object {current} is a file where a folder was expected")
                pending.append((current, (raw, obj)))
                pending.extend((d.id, None) for d in obj.dirents if d.is_dir)
                continue
            raw, directory = loaded
            entries = tuple(replace(d, id=self._copied_dir(d.id)) if d.is_dir
                            else replace(d, id=self._file(d.id)) for d in directory.dirents)
            if self.recode:
                new_id = LibraryObjects(self.store, self.dst).put(DirObject(entries))
            else:
                new_id = self._keep(current, raw)
            self.fs[current] = new_id
        return self._copied_dir(dir_id)

    def _copied_dir(self, dir_id: str) -> str:
        """The destination id of a folder copied already (EMPTY_ID stays EMPTY_ID)."""
        return EMPTY_ID if dir_id == EMPTY_ID else self.fs[dir_id]

    def _blocks(self, block_ids: Iterable[str]) -> tuple[str, ...]:
        """Copy the blocks into the destination; their ids there, in order."""
        wanted = list(block_ids)
        if not self.recode:
            for start in range(0, len(wanted), CHECK_CHUNK):
                batch = [b for b in wanted[start:start + CHECK_CHUNK] if b not in self.blocks]
                for block_id in self.store.missing(ObjectKind.BLOCK, self.dst, batch):
                    self._stream_block(block_id)
                self.blocks.update((b, b) for b in batch)
            return tuple(wanted)
        for block_id in wanted:
            if block_id not in self.blocks:
                self.blocks[block_id] = self._recode_block(block_id)
        return tuple(self.blocks[b] for b in wanted)

    def _stream_block(self, block_id: str) -> None:
        """Stream one block unchanged from the source's scope into the destination's."""
        writer = self.store.open_writer(ObjectKind.BLOCK, self.dst)
        try:
            with self.store.open_read(ObjectKind.BLOCK, self.src, block_id) as stream:
                while piece := stream.read(STREAM_PIECE):
                    writer.write(piece)
            writer.commit(block_id)
        except BaseException:
            writer.abort()
            raise

    def _recode_block(self, block_id: str) -> str:
        """Re-encrypt one block for the destination; its new id."""
        data = self.store.get(ObjectKind.BLOCK, self.src, block_id)
        plain = crypto.decrypt_block(self.src_key, data) if self.src_key else data
        del data
        out = crypto.encrypt_block(self.dst_key, plain) if self.dst_key else plain
        del plain
        new_id = codec.sha1_hex(out)
        if not self.store.exists(ObjectKind.BLOCK, self.dst, new_id):
            self.store.put(ObjectKind.BLOCK, self.dst, new_id, out)
        return new_id


def _copy(deps: Deps, actor: User, source: Library, destination: Library,  # noqa: PLR0917
          wanted: files.Relocation, keys: tuple[crypto.FileKey | None, crypto.FileKey | None],
          verb: str) -> tuple[Dirent, str]:
    """Copy the objects, commit the copy in the destination; (source entry, new path)."""
    copier = _Copier(deps.objects, source.id, destination.id, *keys)

    def find(objects: LibraryObjects, root: str) -> tuple[Dirent, Dirent]:
        found = tree.lookup(objects, root, wanted.src)
        if found is None:
            raise PathNotFound(f"{wanted.src} does not exist")
        return found, copier.entry(found)

    _, (original, copied) = files.at_head(deps, actor, source.id, find)
    final = [wanted.dst_parent]

    def change(objs: LibraryObjects, root: str) -> tuple[str, str]:
        folder = tree.list_dir(objs, root, wanted.dst_parent)
        name = files.free_name(folder, wanted.name, is_dir=copied.is_dir)
        new_root = tree.put_entry(objs, objs, root, wanted.dst_parent,
                                  replace(copied, name=name), mtime=deps.clock(),
                                  create_parents=False)
        final[0] = paths.join(wanted.dst_parent, name)
        return new_root, f'{verb} "{original.name}" from library "{source.name}" as "{name}".'

    commit_change(deps, actor, destination.id, change)
    return original, final[0]


def transfer_between(deps: Deps, actor: User, src_library_id: str,  # noqa: PLR0917
                     path: str, dst_library_id: str, dst_dir: str, *, move: bool,
                     src_key: crypto.FileKey | None = None,
                     dst_key: crypto.FileKey | None = None,
                     new_name: str | None = None) -> str:
    """Copy (or move) a file or folder into a folder of another library; its new path.

    A move commits the copy in the destination first, then deletes the source only if it is
    still the entry that was copied (else Conflict, and both stay). Within one library this
    is `files.move_path` or `files.copy_path` (no bytes copied).
    """
    source = libraries.writable_library(deps, actor, src_library_id, which="the source") \
        if move else get_library(deps, actor, src_library_id)
    destination = libraries.writable_library(deps, actor, dst_library_id, which="the destination")
    if source.id == destination.id:
        same_library = files.move_path if move else files.copy_path
        return same_library(deps, actor, source.id, path, dst_dir=dst_dir, new_name=new_name)
    keys = files.key_for(source, src_key), files.key_for(destination, dst_key)
    wanted = files.relocation(path, dst_dir, new_name, verb="moved" if move else "copied")
    original, final = _copy(deps, actor, source, destination, wanted, keys,
                            "Moved" if move else "Copied")
    if not move:
        return final

    def remove(objs: LibraryObjects, root: str) -> tuple[str, str]:
        found = tree.lookup(objs, root, wanted.src)
        if found is None:
            return root, ""  # gone meanwhile: the copy is the one remaining version
        if (found.id, found.mode) != (original.id, original.mode):
            raise Conflict(f"{wanted.src} changed while it was moved: the copy is in "
                           f"{final} of the destination and the source was kept")
        new_root = tree.remove_entry(objs, objs, root, wanted.src, mtime=deps.clock())
        return new_root, f'Moved "{original.name}" to library "{destination.name}".'

    commit_change(deps, actor, source.id, remove)
    return final
