"""File-system primitives of the local object store: errors, listing, syncing, stamps."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

from sesamedisk.adapters.objects.keys import OBJECT_ID_PATTERN
from sesamedisk.errors import Unavailable

T = TypeVar("T")

STORAGE_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})
DIR_FLAGS = os.O_RDONLY | os.O_CLOEXEC | getattr(os, "O_DIRECTORY", 0)


def unavailable(exc: OSError, action: str, what: str) -> Unavailable:
    """Translate an OSError into Unavailable; a full disk or quota says so explicitly."""
    reason = exc.strerror or str(exc)
    if exc.errno in STORAGE_FULL:
        return Unavailable(f"storage is full: cannot {action} {what} ({reason})")
    return Unavailable(f"object store cannot {action} {what}: {reason}")


def require_root(root: str, what: str) -> None:
    """Unavailable when a store's root folder itself is gone (a lost or unmounted disk).

    Without this check a vanished disk would answer "not stored" for every object, and a
    replicated store would take it for a healthy, empty backend.
    """
    if not os.path.isdir(root):
        raise Unavailable(f"object store cannot read {what}: its root folder {root} is missing")


def list_dir(path: str) -> list[str]:
    """Entry names of a directory; empty when it does not exist."""
    try:
        return os.listdir(path)
    except (FileNotFoundError, NotADirectoryError):
        return []


def load_syncfs() -> Callable[[int], int] | None:
    """glibc's syncfs(2), which Python does not wrap; None where it is unavailable."""
    try:
        function: Callable[[int], int] = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return None
    return function


LIBC_SYNCFS = load_syncfs()


RACY_NS = 1_000_000_000
"""A file modified less than this long ago may change again without its mtime moving."""


def settled_mtime_ns() -> int:
    """An mtime for a new object a whole second in the past: any later write changes it."""
    return (time.time_ns() // RACY_NS - 1) * RACY_NS


def stamp_of(info: os.stat_result) -> str:
    """Identity and last content change of a file; "" while its mtime is too recent to trust.

    Links and unlinks leave the stamp unchanged; any write moves the mtime past the
    settled value objects are given, so an edited or replaced file gets a new stamp.
    """
    if time.time_ns() - info.st_mtime_ns < RACY_NS:
        return ""
    return f"{info.st_dev}:{info.st_ino}:{info.st_size}:{info.st_mtime_ns}"


def fsync_dir(path: str) -> None:
    """Make a directory's entries durable."""
    fd = os.open(path, DIR_FLAGS)
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno != errno.EINVAL:  # some filesystems cannot fsync directories
            raise
    finally:
        os.close(fd)


def remove_tree(path: str) -> None:
    """Delete a directory tree, tolerating entries that vanish concurrently."""
    for dirpath, dirnames, filenames in os.walk(path, topdown=False):
        for name in filenames:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(dirpath, name))
        for name in dirnames:
            with contextlib.suppress(FileNotFoundError):
                os.rmdir(os.path.join(dirpath, name))
    with contextlib.suppress(FileNotFoundError):
        os.rmdir(path)


def ids_under(kind_dir: str) -> Iterator[str]:
    """Object ids stored below root/<scope>/<kind>, skipping temp files and strays."""
    for prefix in list_dir(kind_dir):
        if len(prefix) != 2:
            continue
        for name in list_dir(os.path.join(kind_dir, prefix)):
            object_id = prefix + name
            if OBJECT_ID_PATTERN.fullmatch(object_id) is not None:
                yield object_id


def stats_under(kind_dir: str) -> Iterator[tuple[str, int, float]]:
    """(id, size, mtime) of the objects below root/<scope>/<kind>; vanished ones skipped."""
    for object_id in ids_under(kind_dir):
        try:
            info = os.stat(os.path.join(kind_dir, object_id[:2], object_id[2:]))
        except FileNotFoundError:
            continue
        yield object_id, info.st_size, info.st_mtime


def guarded(items: Iterator[T], action: str) -> Iterator[T]:
    """`items`, with an OSError met while listing them raised as Unavailable."""
    try:
        yield from items
    except OSError as exc:
        raise unavailable(exc, action, "objects") from exc


def unlink_if_older(path: str, cutoff: float) -> bool:
    """Remove `path` if it was last modified before `cutoff`; True when it was removed."""
    try:
        if os.lstat(path).st_mtime >= cutoff:
            return False
        os.unlink(path)
    except FileNotFoundError:
        return False
    return True
