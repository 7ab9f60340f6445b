"""The ObjectStore port: content-addressed, immutable, write-once bytes."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from enum import StrEnum
from typing import BinaryIO, NamedTuple, Protocol, runtime_checkable


class ObjectKind(StrEnum):
    """The three kinds of stored objects."""

    BLOCK = "blocks"
    FS = "fs"
    COMMIT = "commits"


class ObjectStat(NamedTuple):
    """One stored object as listed: its id, size and when it was stored (POSIX seconds)."""

    object_id: str
    size: int
    stored_at: float


class ObjectWriter(Protocol):
    """A new object being streamed in; nothing of it is visible before `commit`."""

    @property
    def digest(self) -> str:
        """Hex SHA-1 of the bytes written so far (a block's id when they are a block)."""
        ...

    @property
    def size(self) -> int:
        """How many bytes were written so far."""
        ...

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Append bytes; the caller may reuse `data` once this returns."""
        ...

    def commit(self, object_id: str) -> None:
        """Publish the bytes atomically and durably under `object_id` (first bytes win)."""
        ...

    def abort(self) -> None:
        """Discard what was written; a no-op after commit or a previous abort."""
        ...


@runtime_checkable
class StampedReads(Protocol):
    """Optional store capability: a cheap stamp that changes whenever stored bytes may have.

    A verifying reader may skip re-hashing an object whose stamp is unchanged since it last
    checked it; scrubbing still re-reads everything at rest.
    """

    def stamp(self, kind: ObjectKind, scope: str, object_id: str) -> str:
        """An opaque token of the stored object's identity and last modification."""
        ...

    def get_stamped(self, kind: ObjectKind, scope: str, object_id: str) -> tuple[bytes, str]:
        """The stored bytes and the stamp of exactly the file they were read from."""
        ...


class BlockPieces(Protocol):
    """Bytes of one stored block, checked as `get` checks them, read piece by piece.

    Made for sending a block from an event loop: `read_ready` never waits for a disk, so a
    piece already in memory is copied straight into the send path; when it would wait, the
    caller moves `read` to a thread. The caller closes it.
    """

    @property
    def size(self) -> int:
        """The whole block's stored size (the pieces may cover only part of it)."""
        ...

    @property
    def remaining(self) -> int:
        """How many bytes are still to be read."""
        ...

    @property
    def held(self) -> int:
        """How many of the remaining bytes this object holds in memory (0: still stored)."""
        ...

    def read_ready(self, limit: int) -> bytes | memoryview | None:
        """Up to `limit` next bytes if no disk has to be waited for; None if one would."""
        ...

    def read(self, limit: int) -> bytes | memoryview:
        """Up to `limit` next bytes, waiting for the disk if needed (b"" once done)."""
        ...

    def close(self) -> None:
        """Release what the pieces hold; idempotent."""
        ...


@runtime_checkable
class PieceReads(Protocol):
    """Optional store capability: a block's bytes as `BlockPieces` (see there)."""

    def open_block_pieces(self, scope: str, block_id: str, start: int = 0,
                          end: int | None = None) -> BlockPieces:
        """Bytes `[start, end)` of the block (end None or past it: to its end).

        Raises what `get` raises (ObjectNotFound, Corrupted, Unavailable); a piece read
        later raises Corrupted if the stored block turns out shorter than it was.
        """
        ...


@runtime_checkable
class UnhashedWrites(Protocol):
    """Optional store capability: streamed writes that skip hashing (the caller hashes)."""

    def open_unhashed_writer(self, kind: ObjectKind, scope: str) -> ObjectWriter:
        """Like `open_writer`, but `digest` is unavailable; the caller checks the id."""
        ...


@runtime_checkable
class BlockPuts(Protocol):
    """Optional store capability: store a block under the SHA-1 the store computes once.

    A caller holding a block's bytes but not its id (the server chunking an upload) then
    pays for one hash, where `put` would check an id the caller had hashed already.
    """

    def put_block(self, scope: str, data: bytes) -> str:
        """Store `data` as a block atomically and durably; return its id (hex SHA-1)."""
        ...


class ObjectStore(Protocol):
    """Immutable objects keyed by (kind, scope, id); scope is the library id.

    Contract (tests/contract/test_object_store.py runs it against every adapter):
    - `put` is atomic (never a half-written object visible, also after a crash) and
      idempotent; putting different bytes under an existing key keeps the first bytes.
    - `get` returns exactly what was put, or raises ObjectNotFound.
    - `open_read` streams the same bytes `get` returns; the caller closes the stream.
    - The store does not check ids against content; `verifying` callers do that.
    """

    def put(self, kind: ObjectKind, scope: str, object_id: str, data: bytes) -> None:
        """Store `data` under the key atomically and durably."""
        ...

    def open_writer(self, kind: ObjectKind, scope: str) -> ObjectWriter:
        """Start streaming a new object whose id is known only at the end."""
        ...

    def flush(self) -> None:
        """Make every completed put/commit durable, names included; call before a head moves."""
        ...

    def get(self, kind: ObjectKind, scope: str, object_id: str) -> bytes:
        """The bytes stored under the key; ObjectNotFound if absent."""
        ...

    def open_read(self, kind: ObjectKind, scope: str, object_id: str) -> BinaryIO:
        """A readable stream of the stored bytes (caller closes it); ObjectNotFound if absent."""
        ...

    def exists(self, kind: ObjectKind, scope: str, object_id: str) -> bool:
        """True when the key holds an object."""
        ...

    def missing(self, kind: ObjectKind, scope: str, object_ids: Iterable[str]) -> list[str]:
        """The ids among `object_ids` that are not stored, in input order, without repeats."""
        ...

    def size(self, kind: ObjectKind, scope: str, object_id: str) -> int:
        """Stored size in bytes; ObjectNotFound if absent."""
        ...

    def delete(self, kind: ObjectKind, scope: str, object_id: str) -> None:
        """Remove the object if present (used by GC and repair only)."""
        ...

    def iter_ids(self, kind: ObjectKind, scope: str) -> Iterator[str]:
        """Every id stored for (kind, scope), in no particular order."""
        ...

    def iter_stats(self, kind: ObjectKind, scope: str) -> Iterator[ObjectStat]:
        """Id, size and store time of every object of (kind, scope), in no particular order.

        `stored_at` is when the object was (last) written; garbage collection leaves objects
        younger than its grace period alone, so an upload in flight is never collected.
        """
        ...

    def iter_scopes(self) -> Iterator[str]:
        """Every scope that holds at least one object."""
        ...

    def delete_scope(self, scope: str) -> None:
        """Remove every object of a scope (used when a library is purged)."""
        ...
