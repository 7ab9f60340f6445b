"""Downloads: byte ranges of a file and streamed ZIP archives of a folder.

Ranges of plain libraries seek: a block's plaintext size is its stored size, so the sizes
of a file's blocks (one `ObjectStore.size` per block, checked to add up to the file's size)
give each block's offset and only the blocks overlapping the range are read. The offsets
depend only on the file id (objects are immutable), so a small per-process cache keeps them
for repeated requests such as video seeking. Encrypted blocks are padded, so their stored
size does not tell the plaintext size: ranges of encrypted libraries are answered by
decrypting from the file's first block and dropping what comes before the range.

ZIP archives stream entry by entry and block by block (zipstream-ng, stored without
compression, ZIP64 where needed, UTF-8 names, every folder as an entry so empty ones
survive); memory holds one block plus the central directory's entry list.
"""

from __future__ import annotations

import bisect
import threading
from array import array
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass

from zipstream import ZIP_STORED, ZipStream

from sesamedisk.domain import crypto, paths, tree
from sesamedisk.domain.objects import Dirent, FileObject
from sesamedisk.domain.records import User
from sesamedisk.errors import Corrupted, PathNotFound
from sesamedisk.ports.deps import Deps
from sesamedisk.ports.objects import BlockPieces, ObjectKind, ObjectStore, PieceReads
from sesamedisk.services import files
from sesamedisk.services.library_objects import LibraryObjects

OFFSET_CACHE_FILES = 256
"""How many files' block offsets are kept per process."""


@dataclass(frozen=True)
class RangedContent:
    """Bytes `[start, end)` of a file of `size` bytes, as a lazy stream, two ways.

    `chunks` yields bytes; `pieces` yields the same content where a plain library's blocks
    may come as `BlockPieces` for a sender to read piece by piece (files served from an
    event loop). A caller iterates one of the two.
    """

    dirent: Dirent
    size: int
    start: int
    end: int
    chunks: Iterator[bytes]
    pieces: Iterator[bytes | BlockPieces]

    @property
    def length(self) -> int:
        """How many bytes `chunks` yields."""
        return self.end - self.start


@dataclass(frozen=True)
class ZipDownload:
    """A folder as a streamed ZIP archive and the archive's suggested file name."""

    filename: str
    chunks: Iterator[bytes]


class _OffsetCache:
    """(library id, file id) -> the offsets of the file's blocks; least recently used goes."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._entries: OrderedDict[tuple[str, str], array[int]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str]) -> array[int] | None:
        """The cached offsets, if any."""
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
            return found

    def put(self, key: tuple[str, str], offsets: array[int]) -> None:
        """Remember `offsets`, forgetting the least recently used entry when full."""
        with self._lock:
            self._entries[key] = offsets
            self._entries.move_to_end(key)
            while len(self._entries) > self._capacity:
                self._entries.popitem(last=False)


_OFFSETS = _OffsetCache(OFFSET_CACHE_FILES)


def _block_offsets(store: ObjectStore, library_id: str, file_id: str,
                   file_obj: FileObject) -> array[int]:
    """Start offset of each block plus the file size; Corrupted if sizes do not add up."""
    cached = _OFFSETS.get((library_id, file_id))
    if cached is not None:
        return cached
    offsets = array("q", [0])
    for block_id in file_obj.block_ids:
        offsets.append(offsets[-1] + store.size(ObjectKind.BLOCK, library_id, block_id))
    if offsets[-1] != file_obj.size:
        raise Corrupted(f"the blocks of file {file_id} in library {library_id} add up to "
                        f"{offsets[-1]} bytes, not {file_obj.size}")
    _OFFSETS.put((library_id, file_id), offsets)
    return offsets


def _seek(store: ObjectStore, opened: files.OpenFile, start: int) -> tuple[int, int]:
    """(index, offset) of the block to start reading at for byte `start`.

    Plain blocks are found by their sizes; encrypted ones are read from the first block.
    """
    if opened.key is not None or start == 0:
        return 0, 0
    offsets = _block_offsets(store, opened.library.id, opened.dirent.id, opened.file_obj)
    index = bisect.bisect_right(offsets, start) - 1
    return index, offsets[index]


def _shorter_than_recorded(opened: files.OpenFile) -> Corrupted:
    """The error for a file whose blocks end before its recorded size."""
    return Corrupted(f"file {opened.dirent.id} in library {opened.library.id} is shorter "
                     f"than its recorded size {opened.file_obj.size}")


def _stream_range(store: ObjectStore, opened: files.OpenFile, start: int, end: int,
                  seek: tuple[int, int]) -> Iterator[bytes]:
    """The plaintext of `[start, end)`, reading blocks from the `seek` position on."""
    library_id, file_obj, key = opened.library.id, opened.file_obj, opened.key
    index, offset = seek
    sent = 0
    for block_id in file_obj.block_ids[index:]:
        if offset >= end:
            break
        data = store.get(ObjectKind.BLOCK, library_id, block_id)
        plain = crypto.decrypt_block(key, data) if key else data
        low, high = max(start - offset, 0), min(end - offset, len(plain))
        if low < high:
            yield plain if (low, high) == (0, len(plain)) else plain[low:high]
            sent += high - low
        offset += len(plain)
    if sent != end - start:
        raise _shorter_than_recorded(opened)


def _stream_pieces(store: PieceReads, opened: files.OpenFile, start: int, end: int,
                   seek: tuple[int, int]) -> Iterator[BlockPieces]:
    """`[start, end)` of a plain file as the pieces of each block overlapping it."""
    library_id, file_obj = opened.library.id, opened.file_obj
    index, offset = seek
    sent = 0
    for block_id in file_obj.block_ids[index:]:
        if offset >= end:
            break
        block = store.open_block_pieces(library_id, block_id, start - offset, end - offset)
        offset += block.size
        sent += block.remaining
        if block.remaining:
            yield block
        else:
            block.close()
    if sent != end - start:
        raise _shorter_than_recorded(opened)


def clamp(size: int, start: int = 0, end: int | None = None) -> tuple[int, int]:
    """`[start, end)` of a file of `size` bytes, with Python slice rules, clamped to it.

    A negative `start` counts from the end (`-n` is the last n bytes), `end` None means the
    end of the file; an empty result means nothing of the file lies in the range asked for.
    """
    first, stop, _ = slice(start, end).indices(size)
    return first, max(stop, first)


def range_of(store: ObjectStore, opened: files.OpenFile, start: int = 0,
             end: int | None = None) -> RangedContent:
    """Bytes `[start:end]` (see `clamp`) of an opened file, streamed lazily.

    Where to start reading is found now, so a missing block fails before any byte is sent.
    """
    size = opened.file_obj.size
    first, stop = clamp(size, start, end)
    if first == stop:
        return RangedContent(dirent=opened.dirent, size=size, start=first, end=stop,
                             chunks=iter(()), pieces=iter(()))
    seek = _seek(store, opened, first)
    chunks = _stream_range(store, opened, first, stop, seek)
    pieces: Iterator[bytes | BlockPieces] = chunks
    if opened.key is None and isinstance(store, PieceReads):
        pieces = _stream_pieces(store, opened, first, stop, seek)
    return RangedContent(dirent=opened.dirent, size=size, start=first, end=stop,
                         chunks=chunks, pieces=pieces)


def read_range(deps: Deps, actor: User, library_id: str, path: str, *, start: int = 0,
               end: int | None = None,
               file_key: crypto.FileKey | None = None) -> RangedContent:
    """The file at `path`'s bytes `[start:end]` (see `clamp`), streamed lazily."""
    opened = files.open_file(deps, actor, library_id, path, file_key=file_key)
    return range_of(deps.objects, opened, start, end)


def _file_chunks(store: ObjectStore, library_id: str, file_obj: FileObject,
                 key: crypto.FileKey | None) -> Iterator[bytes]:
    """A file's plaintext, one block at a time."""
    for block_id in file_obj.block_ids:
        data = store.get(ObjectKind.BLOCK, library_id, block_id)
        yield crypto.decrypt_block(key, data) if key else data


def _zip_chunks(objects: LibraryObjects, folder_id: str, top: str,
                key: crypto.FileKey | None) -> Iterator[bytes]:
    """The archive: `top/` and everything below the folder, each entry streamed in turn."""
    archive = ZipStream(compress_type=ZIP_STORED)
    archive.mkdir(top)
    yield from archive.all_files()
    for relative, dirent in tree.walk(objects, folder_id):
        name = top + relative
        if dirent.is_dir:
            archive.mkdir(name)
        else:
            file_obj = objects.load_file(dirent.id)
            archive.add(_file_chunks(objects.store, objects.library_id, file_obj, key), name,
                        size=file_obj.size)
        yield from archive.all_files()
    yield from archive.footer()


def zip_folder(deps: Deps, actor: User, library_id: str, path: str, *,
               file_key: crypto.FileKey | None = None) -> ZipDownload:
    """A ZIP archive of the folder at `path` (the root is named after the library).

    The folder is looked up now (PathNotFound before any byte is sent); the archive is
    generated while it is read, from the head the lookup saw.
    """
    target = paths.normalize(path)

    def find(objects: LibraryObjects, root: str) -> Dirent:
        folder = tree.lookup(objects, root, target)
        if folder is None or not folder.is_dir:
            raise PathNotFound(f"no folder {target}")
        return folder

    library, folder = files.at_head(deps, actor, library_id, find)
    key = files.key_for(library, file_key)
    top = paths.basename(target) or library.name
    objects = LibraryObjects(deps.objects, library.id)
    return ZipDownload(filename=f"{top}.zip", chunks=_zip_chunks(objects, folder.id, top, key))
