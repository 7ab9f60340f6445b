"""The ObjectStore port: content-addressed, immutable, write-once bytes."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from enum import StrEnum
from typing import BinaryIO, Protocol


class ObjectKind(StrEnum):
    """The three kinds of stored objects."""

    BLOCK = "blocks"
    FS = "fs"
    COMMIT = "commits"


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

    def iter_scopes(self) -> Iterator[str]:
        """Every scope that holds at least one object."""
        ...

    def delete_scope(self, scope: str) -> None:
        """Remove every object of a scope (used when a library is purged)."""
        ...
