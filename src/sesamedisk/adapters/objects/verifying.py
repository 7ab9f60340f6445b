"""ObjectStore decorator that checks every object against its id on the way in and out."""

from __future__ import annotations

import contextlib
import hashlib
import io
import struct
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, BinaryIO

from sesamedisk.adapters.objects.block_pieces import (
    FilePieces,
    MemoryPieces,
    StampedFiles,
    read_and_close,
)
from sesamedisk.domain.codec import decompress, sha1_hex, verify_commit
from sesamedisk.errors import Corrupted, InvalidRequest
from sesamedisk.ports.objects import (
    BlockPieces,
    ObjectKind,
    ObjectStat,
    ObjectStore,
    ObjectWriter,
    StampedReads,
)

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

# verify_commit can fail on hostile input with more than InvalidRequest (e.g. a ctime too
# large for struct.pack, a creator that is not ASCII, JSON nested too deeply).
_UNDECODABLE = (InvalidRequest, ValueError, struct.error, RecursionError)


def _kind(kind: object) -> ObjectKind:
    if isinstance(kind, str):
        with contextlib.suppress(ValueError):
            return ObjectKind(kind)
    raise InvalidRequest("invalid object kind")


def content_matches(kind: ObjectKind, object_id: str, data: bytes) -> bool:
    """True when `data` is the object `object_id` of `kind`.

    blocks: sha1(data); fs: sha1 of the JSON inflated from one complete zlib stream;
    commits: the commit parses, names `object_id` as its commit_id, and the id recomputed
    from its fields equals it (fields outside Seafile's commit id are not covered).
    """
    checked = _kind(kind)
    if checked is ObjectKind.BLOCK:
        return sha1_hex(data) == object_id
    if checked is ObjectKind.FS:
        try:
            return sha1_hex(decompress(data)) == object_id
        except InvalidRequest:
            return False
    try:
        verify_commit(object_id, data)
    except _UNDECODABLE:
        return False
    return True


def _mismatch(kind: ObjectKind, scope: str, object_id: str) -> str:
    return f"stored object {_kind(kind).value}/{scope}/{object_id} does not match its id"


class _VerifiedBlockStream(io.RawIOBase):
    """Raw stream over a block that checks its SHA-1 in the read delivering the last byte.

    A consumer that reads the stream to the end therefore gets either exactly the stored
    block or Corrupted, never a complete wrong block.
    """

    def __init__(self, raw: BinaryIO, expected_size: int, object_id: str, error: str) -> None:
        super().__init__()
        self._raw = raw
        self._remaining = expected_size
        self._hash = hashlib.sha1()
        self._error = error
        self._id = object_id

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer, /) -> int:
        view = memoryview(buffer).cast("B")
        if not len(view):
            return 0
        if self._remaining == 0:
            if self._raw.read(1):
                raise Corrupted(self._error)  # longer than its stat size said: changed under us
            return 0
        chunk = self._raw.read(min(len(view), self._remaining))
        if not chunk:
            raise Corrupted(self._error)  # shorter than its size
        self._hash.update(chunk)
        self._remaining -= len(chunk)
        if self._remaining == 0 and self._hash.hexdigest() != self._id:
            raise Corrupted(self._error)
        view[: len(chunk)] = chunk
        return len(chunk)

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()


_Key = tuple[ObjectKind, str, str]
VERIFIED_STAMPS_KEPT = 100_000
"""How many (object, stamp) pairs a process remembers as checked (about 15 MB)."""


class VerifiedStamps:
    """Bounded LRU of objects whose stored bytes this process has checked, by stamp."""

    def __init__(self, capacity: int = VERIFIED_STAMPS_KEPT) -> None:
        self._capacity = capacity
        self._stamps: OrderedDict[_Key, str] = OrderedDict()
        self._lock = threading.Lock()

    def matches(self, key: _Key, stamp: str) -> bool:
        """True when `key` was checked and its stamp has not changed since."""
        if not stamp:
            return False
        with self._lock:
            if self._stamps.get(key) != stamp:
                return False
            self._stamps.move_to_end(key)
            return True

    def remember(self, key: _Key, stamp: str) -> None:
        """Record that the bytes behind `stamp` were checked ("" means: cannot tell)."""
        if not stamp:
            return
        with self._lock:
            self._stamps[key] = stamp
            self._stamps.move_to_end(key)
            while len(self._stamps) > self._capacity:
                self._stamps.popitem(last=False)

    def forget(self, key: _Key | None = None) -> None:
        """Drop one key, or everything."""
        with self._lock:
            if key is None:
                self._stamps.clear()
            else:
                self._stamps.pop(key, None)


class _VerifyingWriter:
    """Refuses to commit streamed bytes under an id they do not match."""

    def __init__(self, inner: ObjectWriter, kind: ObjectKind,
                 on_commit: Callable[[str], None]) -> None:
        self._inner = inner
        self._on_commit = on_commit
        self._kind = kind
        self._collected: bytearray | None = None if kind is ObjectKind.BLOCK else bytearray()

    @property
    def digest(self) -> str:
        """Hex SHA-1 of the bytes written so far."""
        return self._inner.digest

    @property
    def size(self) -> int:
        """How many bytes were written so far."""
        return self._inner.size

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Append bytes (fs objects and commits are also kept to be checked on commit)."""
        if self._collected is not None:
            self._collected += data
        self._inner.write(data)

    def commit(self, object_id: str) -> None:
        """Publish under `object_id` only if the bytes are that object; else InvalidRequest."""
        if self._collected is None:
            matches = self._inner.digest == object_id
        else:
            matches = content_matches(self._kind, object_id, bytes(self._collected))
        if not matches:
            self._inner.abort()
            raise InvalidRequest(f"{self._kind.value} object {object_id} does not match "
                                 "its content")
        self._inner.commit(object_id)
        self._on_commit(object_id)

    def abort(self) -> None:
        """Discard what was written."""
        self._inner.abort()


class VerifyingObjectStore:
    """Wraps any ObjectStore: nothing mismatching its id gets in, corruption never gets out.

    `put` raises InvalidRequest for bytes that do not match the id; `get`, `open_read` and
    `verify` raise Corrupted for stored bytes that do not. Everything else is delegated.
    """

    def __init__(self, inner: ObjectStore) -> None:
        self._inner = inner
        self._stamped = inner if isinstance(inner, StampedReads) else None
        self._files = inner if isinstance(inner, StampedFiles) else None
        self._checked = VerifiedStamps()

    def _remember(self, kind: ObjectKind, scope: str, object_id: str) -> None:
        """After a checked write, skip re-hashing the object until its file changes."""
        if self._stamped is not None:
            key = (_kind(kind), scope, object_id)
            self._checked.remember(key, self._stamped.stamp(kind, scope, object_id))

    @property
    def inner(self) -> ObjectStore:
        """The wrapped store."""
        return self._inner

    def put(self, kind: ObjectKind, scope: str, object_id: str, data: bytes) -> None:
        """Store `data` after checking it is the object `object_id`; InvalidRequest if not."""
        if not content_matches(kind, object_id, data):
            raise InvalidRequest(f"{_kind(kind).value} object {object_id} does not match "
                                 "its content")
        self._inner.put(kind, scope, object_id, data)
        self._remember(kind, scope, object_id)

    def put_block(self, scope: str, data: bytes) -> str:
        """Store `data` as a block under the SHA-1 computed here (hashed once); return it."""
        block_id = sha1_hex(data)
        self._inner.put(ObjectKind.BLOCK, scope, block_id, data)
        self._remember(ObjectKind.BLOCK, scope, block_id)
        return block_id

    def open_writer(self, kind: ObjectKind, scope: str) -> ObjectWriter:
        """A writer whose commit refuses bytes that do not match the id given."""
        return _VerifyingWriter(self._inner.open_writer(kind, scope), _kind(kind),
                                lambda object_id: self._remember(kind, scope, object_id))

    def flush(self) -> None:
        """Make everything stored durable."""
        self._inner.flush()

    def get(self, kind: ObjectKind, scope: str, object_id: str) -> bytes:
        """The stored bytes, checked; ObjectNotFound if absent, Corrupted if they mismatch."""
        if self._stamped is None:
            data = self._inner.get(kind, scope, object_id)
            if not content_matches(kind, object_id, data):
                raise Corrupted(_mismatch(kind, scope, object_id))
            return data
        key = (_kind(kind), scope, object_id)
        data, stamp = self._stamped.get_stamped(kind, scope, object_id)
        if not self._checked.matches(key, stamp):
            self._check_and_remember(key, data, stamp)
        return data

    def _check_and_remember(self, key: _Key, data: bytes, stamp: str) -> None:
        """Corrupted unless `data` is the object `key`; else remember `stamp` as checked."""
        kind, scope, object_id = key
        if not content_matches(kind, object_id, data):
            self._checked.forget(key)
            raise Corrupted(_mismatch(kind, scope, object_id))
        self._checked.remember(key, stamp)

    def open_block_pieces(self, scope: str, block_id: str, start: int = 0,
                          end: int | None = None) -> BlockPieces:
        """Bytes `[start, end)` of a block, checked as `get` checks them.

        A block checked before whose file is unchanged (same stamp) is read piece by piece
        from its file later; any other is read and hashed now, whole.
        """
        if self._files is None:
            return MemoryPieces(self.get(ObjectKind.BLOCK, scope, block_id), start, end)
        key = (ObjectKind.BLOCK, scope, block_id)
        what = f"{ObjectKind.BLOCK.value}/{scope}/{block_id}"
        opened = self._files.open_stamped(ObjectKind.BLOCK, scope, block_id)
        if self._checked.matches(key, opened.stamp):
            return FilePieces(opened, start, end, what)
        data = read_and_close(opened, what)
        self._check_and_remember(key, data, opened.stamp)
        return MemoryPieces(data, start, end)

    def verify(self, kind: ObjectKind, scope: str, object_id: str) -> None:
        """Re-hash one stored object whatever was checked before (fsck, scrub)."""
        data = self._inner.get(kind, scope, object_id)
        if not content_matches(kind, object_id, data):
            raise Corrupted(_mismatch(kind, scope, object_id))

    def open_read(self, kind: ObjectKind, scope: str, object_id: str) -> BinaryIO:
        """A checked stream: blocks are hashed while streamed, fs and commits read whole.

        For blocks, Corrupted is raised by the read that would deliver the last byte.
        """
        if _kind(kind) is not ObjectKind.BLOCK:
            return io.BytesIO(self.get(kind, scope, object_id))
        raw = self._inner.open_read(kind, scope, object_id)
        try:
            size = self._inner.size(kind, scope, object_id)
        except BaseException:
            raw.close()
            raise
        stream = _VerifiedBlockStream(raw, size, object_id, _mismatch(kind, scope, object_id))
        return io.BufferedReader(stream)

    def exists(self, kind: ObjectKind, scope: str, object_id: str) -> bool:
        """True when the key holds an object (its content is not checked)."""
        return self._inner.exists(kind, scope, object_id)

    def missing(self, kind: ObjectKind, scope: str, object_ids: Iterable[str]) -> list[str]:
        """The ids among `object_ids` that are not stored, in input order, without repeats."""
        return self._inner.missing(kind, scope, object_ids)

    def size(self, kind: ObjectKind, scope: str, object_id: str) -> int:
        """Stored size in bytes; ObjectNotFound if absent."""
        return self._inner.size(kind, scope, object_id)

    def delete(self, kind: ObjectKind, scope: str, object_id: str) -> None:
        """Remove the object if present."""
        self._checked.forget((_kind(kind), scope, object_id))
        self._inner.delete(kind, scope, object_id)

    def iter_ids(self, kind: ObjectKind, scope: str) -> Iterator[str]:
        """Every id stored for (kind, scope)."""
        return self._inner.iter_ids(kind, scope)

    def iter_stats(self, kind: ObjectKind, scope: str) -> Iterator[ObjectStat]:
        """Id, size and store time of every object of (kind, scope)."""
        return self._inner.iter_stats(kind, scope)

    def iter_scopes(self) -> Iterator[str]:
        """Every scope that holds at least one object."""
        return self._inner.iter_scopes()

    def delete_scope(self, scope: str) -> None:
        """Remove every object of a scope."""
        self._checked.forget()
        self._inner.delete_scope(scope)
