"""The part every streaming ObjectWriter shares: SHA-1 and size of the bytes written."""

from __future__ import annotations

import hashlib


class HashingWriter:
    """Base of object writers: `digest` and `size` of everything passed to `_take`."""

    def __init__(self) -> None:
        self._hash = hashlib.sha1()
        self._size = 0

    @property
    def digest(self) -> str:
        """Hex SHA-1 of the bytes written so far."""
        return self._hash.hexdigest()

    @property
    def size(self) -> int:
        """How many bytes were written so far."""
        return self._size

    def _take(self, data: bytes | bytearray | memoryview) -> memoryview:
        """Hash and count `data`; returns it as a flat byte view."""
        view = memoryview(data).cast("B")
        self._hash.update(view)
        self._size += view.nbytes
        return view
