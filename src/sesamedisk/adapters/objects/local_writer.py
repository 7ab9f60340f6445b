"""Streaming writes into the local object store: a temp file that becomes an object on commit."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable

from sesamedisk.adapters.objects.hashing import HashingWriter
from sesamedisk.adapters.objects.local_files import settled_mtime_ns
from sesamedisk.errors import InvalidRequest, Unavailable

Publish = Callable[[str, str], None]
"""publish(temp_path, object_id): give a finished, fsync'ed temp file its final name."""


class LocalObjectWriter(HashingWriter):
    """Streams bytes into a temp file while hashing them; `commit` links it into place.

    The temp file lives in the kind's folder (`<scope>/<kind>/.tmp-…`), on the same file
    system as its final name, so publishing is a hard link that never replaces an object.
    """

    def __init__(self, temp_dir: str, temp_prefix: str, publish: Publish,
                 on_error: Callable[[OSError], Unavailable], *, hashed: bool = True) -> None:
        super().__init__(hashed=hashed)
        self._publish = publish
        self._on_error = on_error
        self._temp: str | None = os.path.join(temp_dir, f"{temp_prefix}{secrets.token_hex(12)}")
        try:
            self._fd: int | None = os.open(
                self._temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o640)
        except OSError as exc:
            self._temp = None
            raise on_error(exc) from exc

    def _require_open(self) -> int:
        if self._fd is None:
            raise InvalidRequest("this object writer is already finished")
        return self._fd

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Hash and append `data`."""
        fd = self._require_open()
        view = self._take(data)
        try:
            written = 0
            while written < len(view):
                written += os.write(fd, view[written:])
        except OSError as exc:
            self.abort()
            raise self._on_error(exc) from exc

    def commit(self, object_id: str) -> None:
        """fsync the temp file and publish it as `object_id` (an existing object wins)."""
        fd = self._require_open()
        assert self._temp is not None
        try:
            settled = settled_mtime_ns()
            os.utime(fd, ns=(settled, settled))
            os.fsync(fd)
            os.close(fd)
            self._fd = None
            self._publish(self._temp, object_id)
        except OSError as exc:
            raise self._on_error(exc) from exc
        finally:
            self.abort()

    def abort(self) -> None:
        """Drop the temp file."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
        if self._temp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._temp)
            self._temp = None
