"""Write whole objects into new files around the page cache (O_DIRECT) where the disk allows.

Every object is fsync'ed before it gets its name (ADR 0003), so copying its bytes into the
page cache first buys nothing but a cached copy of data just written; on the VMs we measured
that copy into fresh page-cache pages cost more CPU than chunking and hashing together
(ADR 0011). Large objects given whole to `LocalObjectStore.put` (the blocks the server cuts
from uploads) are therefore staged through a reused, page-aligned buffer and written with
O_DIRECT; the padding of the last piece is cut off with ftruncate. Streamed writes (blocks
sync clients send, which the library's other clients fetch next) stay in the page cache.
A file system that refuses O_DIRECT turns it off for the store and the object is written
through the page cache as before.
"""

from __future__ import annotations

import errno
import fcntl
import mmap
import os
from queue import Empty, SimpleQueue

ALIGNMENT = 4096
"""Buffer address, length and file offset of every O_DIRECT write are multiples of this."""
STAGING_BYTES = 4 * 1024 * 1024
"""Size of one staging buffer; one is in use per object being written."""
IDLE_BUFFERS = 8
"""Staging buffers kept for reuse; more, lent out during a burst, are unmapped on return."""
DIRECT_MIN_BYTES = 256 * 1024
"""Smaller objects (commits, folders, small blocks) are cheaper through the page cache."""
O_DIRECT: int = getattr(os, "O_DIRECT", 0)


def write_all(fd: int, data: memoryview) -> None:
    """Write every byte of `data` at the file position (short writes are retried)."""
    written = 0
    while written < len(data):
        written += os.write(fd, data[written:])


class DirectWrites:
    """Whether a store writes large objects with O_DIRECT, and the buffers it stages them in.

    Thread-safe: buffers come from a pool that grows to the number of concurrent writers.
    """

    def __init__(self, enabled: bool = True) -> None:
        self._enabled = enabled and O_DIRECT != 0
        self._buffers: SimpleQueue[mmap.mmap] = SimpleQueue()

    @property
    def enabled(self) -> bool:
        """True until the file system refuses O_DIRECT (or when it was never asked for)."""
        return self._enabled

    def open_flags(self, size: int) -> int:
        """Extra `os.open` flags for a new file that will hold `size` bytes."""
        return O_DIRECT if self._enabled and size >= DIRECT_MIN_BYTES else 0

    def refused(self) -> None:
        """The file system rejected O_DIRECT: write through the page cache from now on."""
        self._enabled = False

    def take_buffer(self) -> mmap.mmap:
        """A page-aligned STAGING_BYTES buffer from the pool; hand it back with `give_back`."""
        try:
            return self._buffers.get_nowait()
        except Empty:
            return mmap.mmap(-1, STAGING_BYTES)

    @property
    def idle_buffers(self) -> int:
        """Staging buffers waiting in the pool for the next write."""
        return self._buffers.qsize()

    def give_back(self, buffer: mmap.mmap) -> None:
        """Return a buffer from `take_buffer` to the pool (or unmap it when the pool is full)."""
        if self._buffers.qsize() >= IDLE_BUFFERS:
            buffer.close()
            return
        self._buffers.put(buffer)

    def _write_staged(self, fd: int, staged: memoryview, count: int, offset: int) -> int:
        """Write `staged[:count]` with O_DIRECT at file position `offset`; return bytes written.

        `staged` is a page-aligned buffer, `offset` (the current file position) a multiple of
        ALIGNMENT; the piece is padded with zeros to ALIGNMENT and the padding cut off again.
        Returns `count`, or fewer after a short write or a refusal (EINVAL, then `refused`).
        """
        padded = -(-count // ALIGNMENT) * ALIGNMENT
        staged[count:padded] = bytes(padded - count)
        try:
            written = os.write(fd, staged[:padded])
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
            self.refused()
            return 0
        if written < count:
            return written
        if padded > count:
            os.ftruncate(fd, offset + count)
        return count

    def write(self, fd: int, data: bytes | bytearray | memoryview, *, direct: bool) -> None:
        """Write `data` into the new, empty file `fd` (opened with `open_flags` when `direct`)."""
        view = memoryview(data).cast("B")
        if not direct:
            write_all(fd, view)
            return
        done = self._write_direct(fd, view)
        if done < len(view):  # refused part way: keep the good bytes, go on buffered
            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~O_DIRECT)
            os.ftruncate(fd, done)
            os.lseek(fd, done, os.SEEK_SET)
            write_all(fd, view[done:])

    def _write_direct(self, fd: int, view: memoryview) -> int:
        """Bytes of `view` written with O_DIRECT: all, or fewer if the file system balked."""
        buffer = self.take_buffer()
        staged = memoryview(buffer)
        try:
            done = 0
            while done < len(view):
                count = min(STAGING_BYTES, len(view) - done)
                staged[:count] = view[done:done + count]
                written = self._write_staged(fd, staged, count, done)
                done += written
                if written < count:
                    break
            return done
        finally:
            staged.release()
            self.give_back(buffer)
