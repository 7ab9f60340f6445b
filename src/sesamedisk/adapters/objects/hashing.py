"""The part every streaming ObjectWriter shares: SHA-1 and size of the bytes written."""

from __future__ import annotations

import hashlib

from sesamedisk.errors import InvalidRequest


class HashingWriter:
    """Base of object writers: `digest` and `size` of everything passed to `_take`.

    With `hashed=False` only the size is kept: for a caller that hashes the stream itself
    (the replicated store hashes once for all its backends).
    """

    def __init__(self, *, hashed: bool = True) -> None:
        self._hash = hashlib.sha1() if hashed else None
        self._size = 0

    @property
    def digest(self) -> str:
        """Hex SHA-1 of the bytes written so far."""
        if self._hash is None:
            raise InvalidRequest("this object writer does not hash; its caller does")
        return self._hash.hexdigest()

    @property
    def size(self) -> int:
        """How many bytes were written so far."""
        return self._size

    def _take(self, data: bytes | bytearray | memoryview) -> memoryview:
        """Hash and count `data`; returns it as a flat byte view."""
        view = memoryview(data).cast("B")
        if self._hash is not None:
            self._hash.update(view)
        self._size += view.nbytes
        return view
