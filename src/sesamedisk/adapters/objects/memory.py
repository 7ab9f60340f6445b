"""In-memory ObjectStore for tests: a lock-protected dict with the full store contract."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO

from sesamedisk.adapters.objects.hashing import HashingWriter
from sesamedisk.adapters.objects.keys import validate_key, validate_kind, validate_scope
from sesamedisk.errors import InvalidRequest, ObjectNotFound
from sesamedisk.ports.objects import ObjectKind, ObjectStat

_Key = tuple[ObjectKind, str, str]


class MemoryObjectWriter(HashingWriter):
    """Collects a streamed object in memory and hands it to `put` on commit."""

    def __init__(self, put: Callable[[str, bytes], None]) -> None:
        super().__init__()
        self._put = put
        self._buffer: bytearray | None = bytearray()

    def _open(self) -> bytearray:
        if self._buffer is None:
            raise InvalidRequest("this object writer is already finished")
        return self._buffer

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Hash and append `data`."""
        buffer = self._open()
        buffer += self._take(data)

    def commit(self, object_id: str) -> None:
        """Store the collected bytes under `object_id`."""
        data = bytes(self._open())
        self._buffer = None
        self._put(object_id, data)

    def abort(self) -> None:
        """Drop the collected bytes."""
        self._buffer = None


class MemoryObjectStore:
    """Objects in a dict keyed by (kind, scope, id); thread-safe, write-once, not durable."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._objects: dict[_Key, bytes] = {}
        self._stored_at: dict[_Key, float] = {}

    def _key(self, kind: ObjectKind, scope: str, object_id: str) -> _Key:
        return validate_key(kind, scope, object_id), scope, object_id

    def put(self, kind: ObjectKind, scope: str, object_id: str, data: bytes) -> None:
        """Store a copy of `data`; a key that already exists keeps its bytes."""
        key = self._key(kind, scope, object_id)
        copy = bytes(data)
        with self._lock:
            if key not in self._objects:
                self._objects[key] = copy
                self._stored_at[key] = self._clock()

    def open_writer(self, kind: ObjectKind, scope: str) -> MemoryObjectWriter:
        """Collect a new object in memory; it becomes visible on commit."""
        checked = validate_kind(kind)
        validate_scope(scope)
        return MemoryObjectWriter(lambda object_id, data: self.put(checked, scope, object_id,
                                                                   data))

    def flush(self) -> None:
        """Nothing to do: memory is as durable as it gets."""

    def get(self, kind: ObjectKind, scope: str, object_id: str) -> bytes:
        """The stored bytes; ObjectNotFound if absent."""
        key = self._key(kind, scope, object_id)
        with self._lock:
            data = self._objects.get(key)
        if data is None:
            raise ObjectNotFound(f"object {key[0].value}/{scope}/{object_id} is not stored")
        return data

    def open_read(self, kind: ObjectKind, scope: str, object_id: str) -> BinaryIO:
        """A stream over the stored bytes; ObjectNotFound if absent."""
        return io.BytesIO(self.get(kind, scope, object_id))

    def exists(self, kind: ObjectKind, scope: str, object_id: str) -> bool:
        """True when the key holds an object."""
        key = self._key(kind, scope, object_id)
        with self._lock:
            return key in self._objects

    def missing(self, kind: ObjectKind, scope: str, object_ids: Iterable[str]) -> list[str]:
        """The ids among `object_ids` that are not stored, in input order, without repeats."""
        checked = validate_kind(kind)
        validate_scope(scope)
        wanted = list(dict.fromkeys(object_ids))
        for object_id in wanted:
            validate_key(checked, scope, object_id)
        with self._lock:
            return [i for i in wanted if (checked, scope, i) not in self._objects]

    def size(self, kind: ObjectKind, scope: str, object_id: str) -> int:
        """Stored size in bytes; ObjectNotFound if absent."""
        return len(self.get(kind, scope, object_id))

    def delete(self, kind: ObjectKind, scope: str, object_id: str) -> None:
        """Remove the object if present."""
        key = self._key(kind, scope, object_id)
        with self._lock:
            self._objects.pop(key, None)
            self._stored_at.pop(key, None)

    def iter_ids(self, kind: ObjectKind, scope: str) -> Iterator[str]:
        """Every id stored for (kind, scope), from a snapshot taken at the call."""
        checked = validate_kind(kind)
        validate_scope(scope)
        with self._lock:
            ids = [i for (k, s, i) in self._objects if k is checked and s == scope]
        return iter(ids)

    def iter_stats(self, kind: ObjectKind, scope: str) -> Iterator[ObjectStat]:
        """Id, size and store time of every object of (kind, scope), from a snapshot."""
        checked = validate_kind(kind)
        validate_scope(scope)
        with self._lock:
            stats = [ObjectStat(i, len(data), self._stored_at[(k, s, i)])
                     for (k, s, i), data in self._objects.items() if k is checked and s == scope]
        return iter(stats)

    def iter_scopes(self) -> Iterator[str]:
        """Every scope that holds at least one object, from a snapshot taken at the call."""
        with self._lock:
            scopes = list(dict.fromkeys(s for (_, s, _) in self._objects))
        return iter(scopes)

    def delete_scope(self, scope: str) -> None:
        """Remove every object of a scope."""
        validate_scope(scope)
        with self._lock:
            for key in [k for k in self._objects if k[1] == scope]:
                del self._objects[key]
                del self._stored_at[key]
