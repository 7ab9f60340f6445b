"""The preview cache on disk: <root>/<library id>/<file id[:2]>/<file id>/<variant>."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from sesamedisk.ports.previews import CacheKey


class FilePreviewCache:
    """Write-once files keyed by content; a reader sees a whole entry or none."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: CacheKey) -> Path:
        return self.root / key.library_id / key.file_id[:2] / key.file_id / key.variant

    def read(self, key: CacheKey) -> bytes | None:
        """The cached bytes, or None."""
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None

    def path_of(self, key: CacheKey) -> Path | None:
        """Where the cached entry lies, or None if it is not cached."""
        path = self._path(key)
        return path if path.is_file() else None

    def write(self, key: CacheKey, data: bytes) -> None:
        """Store `data` under `key` (temp file + fsync + rename)."""
        self._install(key, lambda out: out.write(data))

    def store_file(self, key: CacheKey, source: Path) -> Path:
        """Copy the file at `source` into the cache under `key`; returns the cached path."""

        def copy(out: BinaryIO) -> None:
            with source.open("rb") as src:
                shutil.copyfileobj(src, out, 1024 * 1024)

        return self._install(key, copy)

    def _install(self, key: CacheKey, fill: Callable[[BinaryIO], object]) -> Path:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as out:
                fill(out)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, target)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        return target
