"""A block's bytes piece by piece: from an open file without waiting for a disk, or memory.

`FilePieces` reads a stored file the verifying store has checked before (its stamp is
remembered) with `preadv2(RWF_NOWAIT)`: a piece in the page cache is copied at once, a
piece that would need the disk answers None and the caller reads it in a thread. The
kernel is told up front which range will be read (`POSIX_FADV_WILLNEED`), so a block
opened ahead of time is on its way into memory when its turn comes. `MemoryPieces` serves
bytes that were just read and hashed whole (a block not checked before, or a store without
files).
"""

from __future__ import annotations

import contextlib
import errno
import os
from typing import NamedTuple, Protocol, runtime_checkable

from sesamedisk.adapters.objects.local_files import unavailable
from sesamedisk.errors import Corrupted
from sesamedisk.ports.objects import ObjectKind

_NOWAIT_REFUSED = (errno.EOPNOTSUPP, errno.EINVAL)
"""preadv2 errors of a kernel or file system without RWF_NOWAIT: read in a thread."""


class OpenedFile(NamedTuple):
    """A stored object's open descriptor (the caller closes it), size and stamp."""

    fd: int
    size: int
    stamp: str


@runtime_checkable
class StampedFiles(Protocol):
    """A store whose objects are files that can be opened with their stamp."""

    def open_stamped(self, kind: ObjectKind, scope: str, object_id: str) -> OpenedFile:
        """The object's file, opened; ObjectNotFound if absent."""
        ...


def read_whole(fd: int, size: int) -> bytes:
    """`size` bytes from the start of `fd`, fewer only if the file ends first."""
    chunks = [os.pread(fd, size, 0)]
    got = len(chunks[0])
    while got < size and (chunk := os.pread(fd, size - got, got)):
        chunks.append(chunk)
        got += len(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def read_and_close(opened: OpenedFile, what: str) -> bytes:
    """The opened file's bytes (`read_whole`), its descriptor closed; Unavailable on errors."""
    try:
        return read_whole(opened.fd, opened.size)
    except OSError as exc:
        raise unavailable(exc, "read", what) from exc
    finally:
        os.close(opened.fd)


def _window(size: int, start: int, end: int | None) -> tuple[int, int]:
    """`[start, end)` clamped to a block of `size` bytes (never inverted)."""
    stop = size if end is None else min(max(end, 0), size)
    first = min(max(start, 0), stop)
    return first, stop


class FilePieces:
    """Bytes `[start, end)` of an open, already checked block file; owns the descriptor."""

    def __init__(self, opened: OpenedFile, start: int, end: int | None, what: str) -> None:
        self._fd = opened.fd
        self._size = opened.size
        self._position, self._end = _window(opened.size, start, end)
        self._what = what
        self._nowait = True
        if self._end > self._position:
            with contextlib.suppress(OSError):  # only a hint
                os.posix_fadvise(self._fd, self._position, self._end - self._position,
                                 os.POSIX_FADV_WILLNEED)

    @property
    def size(self) -> int:
        """The whole block's stored size."""
        return self._size

    @property
    def remaining(self) -> int:
        """How many bytes are still to be read."""
        return self._end - self._position

    @property
    def held(self) -> int:
        """Nothing is held: the bytes are read from the file when asked for."""
        return 0

    def read_ready(self, limit: int) -> memoryview | None:
        """Up to `limit` next bytes if they are in the page cache now; None otherwise."""
        wanted = min(limit, self.remaining)
        if wanted <= 0:
            return memoryview(b"")
        if not self._nowait:
            return None
        piece = bytearray(wanted)
        try:
            got = os.preadv(self._fd, [piece], self._position, os.RWF_NOWAIT)
        except BlockingIOError:
            return None
        except OSError as exc:
            if exc.errno not in _NOWAIT_REFUSED:
                raise unavailable(exc, "read", self._what) from exc
            self._nowait = False
            return None
        self._advance(got)
        return memoryview(piece)[:got]

    def read(self, limit: int) -> bytes:
        """Up to `limit` next bytes, waiting for the disk if needed."""
        wanted = min(limit, self.remaining)
        if wanted <= 0:
            return b""
        try:
            piece = os.pread(self._fd, wanted, self._position)
        except OSError as exc:
            raise unavailable(exc, "read", self._what) from exc
        self._advance(len(piece))
        return piece

    def _advance(self, got: int) -> None:
        """Count bytes read; none at all means the file ended early: Corrupted."""
        if not got:
            raise Corrupted(f"stored object {self._what} is shorter than its size "
                            f"{self._size}")
        self._position += got

    def close(self) -> None:
        """Close the descriptor; idempotent."""
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            os.close(fd)

    def __del__(self) -> None:
        """A sender that never started (the client left first) leaks no descriptor."""
        self.close()


class MemoryPieces:
    """Bytes `[start, end)` of a block held in memory."""

    def __init__(self, data: bytes, start: int = 0, end: int | None = None) -> None:
        self._data = memoryview(data)
        self._position, self._end = _window(len(data), start, end)

    @property
    def size(self) -> int:
        """The whole block's size."""
        return len(self._data)

    @property
    def remaining(self) -> int:
        """How many bytes are still to be read."""
        return self._end - self._position

    @property
    def held(self) -> int:
        """Every remaining byte is held."""
        return self.remaining

    def read_ready(self, limit: int) -> memoryview:
        """The next up to `limit` bytes (always ready)."""
        return self.read(limit)

    def read(self, limit: int) -> memoryview:
        """The next up to `limit` bytes."""
        first = self._position
        self._position = min(self._end, first + max(limit, 0))
        return self._data[first:self._position]

    def close(self) -> None:
        """Nothing to release but the reference."""
        self._position = self._end
