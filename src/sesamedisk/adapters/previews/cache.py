"""The preview cache on disk: <root>/<library id>/<file id[:2]>/<file id>/<variant>, size-capped."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from sesamedisk.ports.previews import CacheKey

TEMP_PREFIX = ".tmp-"
LOW_WATER = 0.9
"""Eviction frees space down to this share of the cap, so it walks the tree only now and then."""
RESCAN_EVERY_WRITES = 1000
RESCAN_EVERY_SECONDS = 600.0
"""The running total is recounted this often (other processes, entries deleted by hand)."""
STALE_TEMP_SECONDS = 3600.0
"""Temp files older than this were left by a killed writer and are removed by a walk."""
INSTALL_ATTEMPTS = 3


@dataclass(frozen=True)
class _Entry:
    used: float
    """Last write or read (the mtime: reads refresh it)."""
    size: int
    path: Path


class FilePreviewCache:
    """Write-once files keyed by content; a reader sees a whole entry or none.

    With `max_bytes`, a write that pushes the cache over it evicts the least recently used
    entries (a read refreshes an entry's mtime) until the cache is under LOW_WATER of the cap.
    The total is counted by one walk at the first write and kept as a running sum after that,
    recounted every RESCAN_EVERY_WRITES writes or RESCAN_EVERY_SECONDS. Without a cap there is
    nothing to enforce: writes never walk (`total_bytes` counts when asked), and temp files a
    killed writer left stay until the folder is cleaned by hand. An entry may vanish at any
    time: a reader holding it open keeps reading; `path_of` callers must cope.

    Walks and evictions run outside the lock, which guards only the counters. One walk runs
    at a time: a write that finds one under way only adds its size to `_during_walk`, and the
    walk's count plus that becomes the total. This is safe because the files, not the counter,
    are the truth: a write the walk saw and also added meanwhile is counted twice, so the
    total can run a few writes high until the next recount (evicting a little early), never
    low. Eviction only unlinks files and empty folders, which writers already cope with: a
    writer whose folder went makes it again (`_temp_file`), an entry evicted just after it
    was written is a cache miss, and a reader holding a file open reads on.
    """

    def __init__(self, root: Path, max_bytes: int | None = None) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self.walks = 0
        """How often the tree was walked (counting or evicting)."""
        self._lock = threading.Lock()
        self._total: int | None = None
        self._writes_since_walk = 0
        self._walked_at = 0.0
        self._walking = False
        self._during_walk = 0
        """Bytes written while a walk was under way, added to what it counts."""
        root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: CacheKey) -> Path:
        return self.root / key.library_id / key.file_id[:2] / key.file_id / key.variant

    @staticmethod
    def _touch(path: Path) -> bool:
        """Mark the entry used now (LRU); False if it was evicted meanwhile."""
        try:
            os.utime(path)
        except FileNotFoundError:
            return False
        return True

    def read(self, key: CacheKey) -> bytes | None:
        """The cached bytes, or None."""
        path = self._path(key)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        self._touch(path)
        return data

    def path_of(self, key: CacheKey) -> Path | None:
        """Where the cached entry lies, or None; it may be evicted before the caller opens it."""
        path = self._path(key)
        return path if path.is_file() and self._touch(path) else None

    def write(self, key: CacheKey, data: bytes) -> None:
        """Store `data` under `key` (temp file + fsync + rename)."""
        self._install(key, lambda out: out.write(data))

    def store_file(self, key: CacheKey, source: Path) -> Path:
        """Copy the file at `source` into the cache under `key`; returns the cached path."""

        def copy(out: BinaryIO) -> None:
            with source.open("rb") as src:
                shutil.copyfileobj(src, out, 1024 * 1024)

        return self._install(key, copy)

    def total_bytes(self) -> int:
        """The entries' sizes: a capped cache's running total, else (or before it) counted now."""
        with self._lock:
            total = self._total
        return total if total is not None else sum(entry.size for entry in self._walk())

    def _temp_file(self, folder: Path) -> tuple[int, str]:
        """A temp file in `folder`, made again if an eviction removed the empty folder."""
        for attempt in range(INSTALL_ATTEMPTS):
            folder.mkdir(parents=True, exist_ok=True)
            try:
                return tempfile.mkstemp(dir=folder, prefix=TEMP_PREFIX)
            except FileNotFoundError:
                if attempt == INSTALL_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    def _install(self, key: CacheKey, fill: Callable[[BinaryIO], object]) -> Path:
        target = self._path(key)
        fd, temp = self._temp_file(target.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                fill(out)
                out.flush()
                os.fsync(out.fileno())
                size = out.tell()
            replaced = self._size_of(target)
            os.replace(temp, target)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        self._account(size - replaced)
        return target

    @staticmethod
    def _size_of(path: Path) -> int:
        try:
            return path.stat().st_size
        except FileNotFoundError:
            return 0

    def _account(self, added: int) -> None:
        """Add a write to a capped cache's running total; recount or evict when due."""
        if self.max_bytes is None:
            return
        with self._lock:
            if self._walking:
                self._during_walk += added
                return
            self._writes_since_walk += 1
            due = (self._total is None or self._writes_since_walk >= RESCAN_EVERY_WRITES
                   or time.monotonic() - self._walked_at >= RESCAN_EVERY_SECONDS)
            if not due:
                assert self._total is not None
                self._total += added
                if self._total <= self.max_bytes:
                    return
            self._walking, self._during_walk = True, 0
        self._recount(self.max_bytes)

    def _recount(self, cap: int) -> None:
        """Count the entries (evicting down to LOW_WATER if over `cap`); the walker only."""
        total: int | None = None
        try:
            entries = self._walk()
            total = sum(entry.size for entry in entries)
            if total > cap:
                total = self._evict(entries, int(cap * LOW_WATER))
        finally:
            with self._lock:
                self._walking = False
                if total is not None:  # else the next write walks again
                    self._total = total + self._during_walk
                    self._writes_since_walk, self._walked_at = 0, time.monotonic()

    def _walk(self) -> list[_Entry]:
        """Every entry with its size and last use; stale temp files are removed on the way."""
        with self._lock:
            self.walks += 1
        entries, stale_before = [], time.time() - STALE_TEMP_SECONDS
        for folder, _, names in os.walk(self.root):
            for name in names:
                path = Path(folder) / name
                try:
                    info = path.stat()
                except FileNotFoundError:
                    continue
                if not name.startswith(TEMP_PREFIX):
                    entries.append(_Entry(info.st_mtime, info.st_size, path))
                elif info.st_mtime < stale_before:
                    path.unlink(missing_ok=True)
        return entries

    def _evict(self, entries: list[_Entry], goal: int) -> int:
        """Remove the least recently used entries until at most `goal` bytes are left."""
        total = sum(entry.size for entry in entries)
        for entry in sorted(entries, key=lambda entry: (entry.used, str(entry.path))):
            if total <= goal:
                break
            try:
                entry.path.unlink(missing_ok=True)
            except OSError:  # cannot be removed (permissions): it stays counted
                continue
            total -= entry.size
            self._remove_empty_folders(entry.path.parent)
        return total

    def _remove_empty_folders(self, folder: Path) -> None:
        """Remove `folder` and its parents below the root while they are empty."""
        while folder != self.root and self.root in folder.parents:
            try:
                folder.rmdir()
            except OSError:  # not empty (or a writer just made it): keep it
                return
            folder = folder.parent
