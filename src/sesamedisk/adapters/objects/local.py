"""ObjectStore on a local POSIX filesystem: one file per object, published atomically."""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from sesamedisk.adapters.objects.block_pieces import OpenedFile, read_and_close
from sesamedisk.adapters.objects.direct_write import DirectWrites
from sesamedisk.adapters.objects.keys import (
    SCOPE_PATTERN,
    validate_key,
    validate_kind,
    validate_object_id,
    validate_scope,
)
from sesamedisk.adapters.objects.local_files import (
    DIR_FLAGS,
    LIBC_SYNCFS,
    fsync_dir,
    guarded,
    ids_under,
    list_dir,
    remove_tree,
    require_root,
    settled_mtime_ns,
    stamp_of,
    stats_under,
    unavailable,
    unlink_if_older,
)
from sesamedisk.adapters.objects.local_writer import LocalObjectWriter
from sesamedisk.errors import ObjectNotFound, Unavailable
from sesamedisk.ports.objects import ObjectKind, ObjectStat

TEMP_PREFIX = ".tmp-"
"""Name prefix of in-flight writes; never listed as objects, removed by `sweep_temp`."""
TRASH_PREFIX = ".trash-"
"""Name prefix of a scope directory being deleted; removed by `delete_scope`/`sweep_temp`."""

_NO_HARD_LINKS = frozenset({errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS})
_FILE_MODE = 0o640
_DIR_MODE = 0o750
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
_READ_FLAGS = os.O_RDONLY | os.O_CLOEXEC
_CREATE_ATTEMPTS = 3


class LocalObjectStore:
    """Objects as files at root/<scope>/<kind>/<id[:2]>/<id[2:]>, write-once and crash-safe.

    A put writes a uniquely named temp file next to the final name, fsyncs it, then
    hard-links it onto the final name (which never replaces an existing object). The data
    is durable before its name exists, so a crash leaves at most a `.tmp-` file (removed by
    `sweep_temp`), never a name over partial data. Names themselves become durable in
    `flush`, one file-system sync that callers make before a head moves to the objects;
    a name lost to a power cut before that only makes the object "missing" again.
    `put` writes objects of 256 KiB and more around the page cache (`direct_write`).
    """

    def __init__(self, root: Path | str, *, direct_writes: bool = True) -> None:
        self._root = os.path.abspath(os.fspath(root))
        self._use_links = True
        self._direct = DirectWrites(direct_writes)
        try:
            if not os.path.isdir(self._root):
                os.makedirs(self._root, _DIR_MODE, exist_ok=True)
                fsync_dir(os.path.dirname(self._root))
        except OSError as exc:
            raise unavailable(exc, "create", "its root directory") from exc

    @property
    def root(self) -> Path:
        """The directory holding every object."""
        return Path(self._root)

    @property
    def direct_writes(self) -> bool:
        """Whether large objects are still written around the page cache (O_DIRECT)."""
        return self._direct.enabled

    def _kind_dir(self, kind: ObjectKind, scope: str) -> str:
        return os.path.join(self._root, scope, kind.value)

    def _path(self, kind: ObjectKind, scope: str, object_id: str) -> str:
        return os.path.join(self._root, scope, kind.value, object_id[:2], object_id[2:])

    def put(self, kind: ObjectKind, scope: str, object_id: str, data: bytes) -> None:
        """Store `data` atomically and durably; a key that already exists keeps its bytes."""
        checked = validate_key(kind, scope, object_id)
        directory = os.path.join(self._root, scope, checked.value, object_id[:2])
        final = os.path.join(directory, object_id[2:])
        what = f"{checked.value}/{scope}/{object_id}"
        temp: str | None = None
        try:
            if os.path.exists(final):
                return
            temp = os.path.join(directory, f"{TEMP_PREFIX}{object_id[2:]}.{secrets.token_hex(8)}")
            fd, direct = self._create(temp, scope, checked, object_id[:2], len(data))
            try:
                self._direct.write(fd, data, direct=direct)
                settled = settled_mtime_ns()
                os.utime(fd, ns=(settled, settled))
                os.fsync(fd)
            finally:
                os.close(fd)
            self._publish(temp, final)
            temp = None
        except OSError as exc:
            if temp is not None:
                with contextlib.suppress(OSError):  # else sweep_temp will get it
                    os.unlink(temp)
            raise unavailable(exc, "store", what) from exc

    def _create(self, temp: str, scope: str, kind: ObjectKind, prefix: str,
                size: int) -> tuple[int, bool]:
        """Open a new temp file for `size` bytes, creating missing directories.

        Returns (fd, whether it was opened for O_DIRECT writes).
        """
        attempt = 1
        while True:
            extra = self._direct.open_flags(size)
            try:
                return os.open(temp, _CREATE_FLAGS | extra, _FILE_MODE), bool(extra)
            except FileNotFoundError:
                if attempt >= _CREATE_ATTEMPTS:  # directories keep vanishing (delete_scope)
                    raise
                attempt += 1
            except OSError as exc:
                if not extra or exc.errno != errno.EINVAL:
                    raise
                self._direct.refused()  # Linux may have created the file before refusing
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(temp)
                continue
            self._make_dirs(scope, kind, prefix)

    def _make_dirs(self, scope: str, kind: ObjectKind, prefix: str | None) -> None:
        """Create root/<scope>/<kind>[/<prefix>] as needed."""
        path = self._root
        for part in (scope, kind.value, prefix):
            if part is None:
                break
            path = os.path.join(path, part)
            with contextlib.suppress(FileExistsError):
                os.mkdir(path, _DIR_MODE)

    def open_writer(self, kind: ObjectKind, scope: str) -> LocalObjectWriter:
        """Stream a new object into a temp file; it gets its id and becomes visible on commit."""
        return self._open_writer(kind, scope, hashed=True)

    def open_unhashed_writer(self, kind: ObjectKind, scope: str) -> LocalObjectWriter:
        """Like `open_writer` without hashing: for a caller that checks the id itself."""
        return self._open_writer(kind, scope, hashed=False)

    def _open_writer(self, kind: ObjectKind, scope: str, *, hashed: bool) -> LocalObjectWriter:
        checked = validate_kind(kind)
        validate_scope(scope)
        kind_dir = self._kind_dir(checked, scope)

        def on_error(exc: OSError) -> Unavailable:
            return unavailable(exc, "store", f"a new {checked.value[:-1]} in {scope}")

        def publish(temp: str, object_id: str) -> None:
            validate_object_id(object_id)
            self._make_dirs(scope, checked, object_id[:2])
            self._publish(temp, os.path.join(kind_dir, object_id[:2], object_id[2:]))

        try:
            self._make_dirs(scope, checked, None)
        except OSError as exc:
            raise on_error(exc) from exc
        return LocalObjectWriter(kind_dir, TEMP_PREFIX, publish, on_error, hashed=hashed)

    def _publish(self, temp: str, final: str) -> None:
        """Give the finished temp file its final name without replacing an existing object."""
        if self._use_links:
            try:
                os.link(temp, final)
            except FileExistsError:
                pass  # a concurrent put won; its bytes stay
            except OSError as exc:
                if exc.errno not in _NO_HARD_LINKS:
                    raise
                self._use_links = False
            if self._use_links:
                os.unlink(temp)
                return
        # Without hard links there is no portable no-replace rename; the check narrows the
        # window in which a racing put with different bytes could replace the first ones.
        if os.path.exists(final):
            os.unlink(temp)
            return
        os.rename(temp, final)

    def flush(self) -> None:
        """Make every stored object and its name durable: one sync of the file system."""
        try:
            fd = os.open(self._root, DIR_FLAGS)
            try:
                if LIBC_SYNCFS is None or LIBC_SYNCFS(fd) != 0:
                    os.sync()
            finally:
                os.close(fd)
        except OSError as exc:
            raise unavailable(exc, "flush", "objects") from exc

    def get(self, kind: ObjectKind, scope: str, object_id: str) -> bytes:
        """The stored bytes, read with one read call; ObjectNotFound if absent."""
        return self.get_stamped(kind, scope, object_id)[0]

    def get_stamped(self, kind: ObjectKind, scope: str, object_id: str) -> tuple[bytes, str]:
        """The stored bytes and the stamp of the file read; ObjectNotFound if absent."""
        opened = self.open_stamped(kind, scope, object_id)
        return read_and_close(opened, f"{kind}/{scope}/{object_id}"), opened.stamp

    def open_stamped(self, kind: ObjectKind, scope: str, object_id: str) -> OpenedFile:
        """The stored file opened (caller closes it), its size and stamp; ObjectNotFound."""
        checked = validate_key(kind, scope, object_id)
        what = f"{checked.value}/{scope}/{object_id}"
        try:
            fd = os.open(self._path(checked, scope, object_id), _READ_FLAGS)
        except FileNotFoundError:
            self._require_root(what)
            raise ObjectNotFound(f"object {what} is not stored") from None
        except OSError as exc:
            raise unavailable(exc, "read", what) from exc
        try:
            info = os.fstat(fd)
        except OSError as exc:
            os.close(fd)
            raise unavailable(exc, "read", what) from exc
        return OpenedFile(fd, info.st_size, stamp_of(info))

    def stamp(self, kind: ObjectKind, scope: str, object_id: str) -> str:
        """Device, inode, size and mtime of the stored file; ObjectNotFound if absent."""
        checked = validate_key(kind, scope, object_id)
        try:
            return stamp_of(os.stat(self._path(checked, scope, object_id)))
        except FileNotFoundError:
            self._require_root(f"{checked.value}/{scope}/{object_id}")
            raise ObjectNotFound(f"object {checked.value}/{scope}/{object_id} is not "
                                 "stored") from None
        except OSError as exc:
            raise unavailable(exc, "stat", f"{checked.value}/{scope}/{object_id}") from exc

    def open_read(self, kind: ObjectKind, scope: str, object_id: str) -> BinaryIO:
        """A buffered binary stream of the stored bytes; ObjectNotFound if absent."""
        checked = validate_key(kind, scope, object_id)
        what = f"{checked.value}/{scope}/{object_id}"
        try:
            return open(self._path(checked, scope, object_id), "rb")
        except FileNotFoundError:
            self._require_root(what)
            raise ObjectNotFound(f"object {what} is not stored") from None
        except OSError as exc:
            raise unavailable(exc, "read", what) from exc

    def _require_root(self, what: str) -> None:
        require_root(self._root, what)

    def _stat_size(self, kind: ObjectKind, scope: str, object_id: str) -> int | None:
        try:
            return os.stat(self._path(kind, scope, object_id)).st_size
        except FileNotFoundError:
            self._require_root(f"{kind.value}/{scope}/{object_id}")
            return None
        except OSError as exc:
            raise unavailable(exc, "stat", f"{kind.value}/{scope}/{object_id}") from exc

    def exists(self, kind: ObjectKind, scope: str, object_id: str) -> bool:
        """True when the key holds an object."""
        checked = validate_key(kind, scope, object_id)
        return self._stat_size(checked, scope, object_id) is not None

    def missing(self, kind: ObjectKind, scope: str, object_ids: Iterable[str]) -> list[str]:
        """The ids among `object_ids` that are not stored, in input order, without repeats."""
        checked = validate_kind(kind)
        validate_scope(scope)
        seen: set[str] = set()
        absent: list[str] = []
        for object_id in object_ids:
            if object_id in seen:
                continue
            seen.add(validate_object_id(object_id))
            if self._stat_size(checked, scope, object_id) is None:
                absent.append(object_id)
        return absent

    def size(self, kind: ObjectKind, scope: str, object_id: str) -> int:
        """Stored size in bytes; ObjectNotFound if absent."""
        checked = validate_key(kind, scope, object_id)
        size = self._stat_size(checked, scope, object_id)
        if size is None:
            raise ObjectNotFound(f"object {checked.value}/{scope}/{object_id} is not stored")
        return size

    def delete(self, kind: ObjectKind, scope: str, object_id: str) -> None:
        """Remove the object if present."""
        checked = validate_key(kind, scope, object_id)
        try:
            os.unlink(self._path(checked, scope, object_id))
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise unavailable(exc, "delete", f"{checked.value}/{scope}/{object_id}") from exc

    def iter_ids(self, kind: ObjectKind, scope: str) -> Iterator[str]:
        """Every id stored for (kind, scope), in no particular order; temp files are skipped."""
        checked = validate_kind(kind)
        validate_scope(scope)
        return guarded(ids_under(self._kind_dir(checked, scope)), f"list {scope}")

    def iter_stats(self, kind: ObjectKind, scope: str) -> Iterator[ObjectStat]:
        """Id, size and modification time of every object of (kind, scope)."""
        checked = validate_kind(kind)
        validate_scope(scope)
        stats = stats_under(self._kind_dir(checked, scope))
        return (ObjectStat(*stat) for stat in guarded(stats, f"list {scope}"))

    def iter_scopes(self) -> Iterator[str]:
        """Every scope that holds at least one object."""
        return guarded(self._scopes(), "list scopes")

    def _scopes(self) -> Iterator[str]:
        for name in list_dir(self._root):
            if SCOPE_PATTERN.fullmatch(name) is None:
                continue
            if any(next(ids_under(self._kind_dir(k, name)), None) is not None
                   for k in ObjectKind):
                yield name

    def delete_scope(self, scope: str) -> None:
        """Remove every object of a scope: rename it out of sight, then delete the tree."""
        validate_scope(scope)
        source = os.path.join(self._root, scope)
        trash = os.path.join(self._root, f"{TRASH_PREFIX}{scope}.{secrets.token_hex(8)}")
        try:
            os.rename(source, trash)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise unavailable(exc, "delete", f"scope {scope}") from exc
        try:
            remove_tree(trash)
        except OSError as exc:  # the scope is already gone; sweep_temp finishes the job
            raise unavailable(exc, "delete", f"scope {scope}") from exc

    def sweep_temp(self, older_than_seconds: float = 3600.0) -> int:
        """Remove temp files of crashed writes older than the age given, and deleted scopes.

        Returns how many temp files and trash directories were removed. Keep the age well
        above the longest put so that writes in flight (in any process) are left alone.
        """
        cutoff = time.time() - older_than_seconds
        removed = 0
        try:
            for name in list_dir(self._root):
                scope_dir = os.path.join(self._root, name)
                if name.startswith(TRASH_PREFIX):
                    remove_tree(scope_dir)
                    removed += 1
                    continue
                if SCOPE_PATTERN.fullmatch(name) is None:
                    continue
                for kind in ObjectKind:
                    kind_dir = os.path.join(scope_dir, kind.value)
                    for prefix in list_dir(kind_dir):
                        prefix_dir = os.path.join(kind_dir, prefix)
                        if prefix.startswith(TEMP_PREFIX):
                            removed += unlink_if_older(prefix_dir, cutoff)
                            continue
                        for entry in list_dir(prefix_dir):
                            if entry.startswith(TEMP_PREFIX) and unlink_if_older(
                                    os.path.join(prefix_dir, entry), cutoff):
                                removed += 1
        except OSError as exc:
            raise unavailable(exc, "sweep", "temp files") from exc
        return removed
