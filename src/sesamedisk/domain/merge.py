"""Three-way merge of fs trees for non-fast-forward HEAD updates (protocol spec §7).

Rules, per name in a directory, comparing the base, head (server) and new (client) entries:

* one side equal to the base (including "absent in both") → take the other side, deletions too;
* both sides equal, or both the same file content (id and mode) → keep head's entry;
* folder on both sides → merge recursively (a folder absent in the base merges against the
  empty folder); the merged folder's mtime is the larger of the two sides';
* deleted on one side, changed on the other → keep the changed entry. For a folder that was
  deleted on one side, the deletion still applies to the parts the other side left untouched
  (the merge recurses against an empty folder), and the folder disappears if nothing is left;
* two different files, or a file and a folder → head's entry keeps the name, new's entry is
  added under `conflict_name(...)`.

Conflict names follow the Seafile client (spec §7.1). The extension is what follows the last
dot; a name whose only dot is its first character (".bashrc") has no extension, and folders
never get an extension split.
"""

from __future__ import annotations

import time
from collections.abc import Generator
from dataclasses import dataclass, replace

from sesamedisk.domain.ids import EMPTY_ID
from sesamedisk.domain.objects import Dirent, DirObject
from sesamedisk.domain.paths import MAX_NAME_BYTES
from sesamedisk.domain.tree import FsReader, FsWriter, load, store

_Task = Generator["_Task", str, str]


@dataclass(frozen=True, slots=True)
class MergeResult:
    """The merged root id and the full paths of the entries added under conflict names."""

    root_id: str
    conflicts: tuple[str, ...]


def conflict_timestamp(epoch_seconds: int) -> str:
    """`YYYY-mm-dd-HH-MM-SS` in local time, as in Seafile conflict names."""
    return time.strftime("%Y-%m-%d-%H-%M-%S", time.localtime(epoch_seconds))


def _split_ext(name: str, is_dir: bool) -> tuple[str, str]:
    dot = name.rfind(".")
    if is_dir or dot <= 0:
        return name, ""
    return name[:dot], name[dot:]


def _fit(stem: str, suffix: str) -> str:
    """`stem + suffix`, shortening the stem so the result stays within MAX_NAME_BYTES."""
    budget = max(MAX_NAME_BYTES - len(suffix.encode("utf-8", "surrogatepass")), 1)
    raw = stem.encode("utf-8", "surrogatepass")
    if len(raw) > budget:
        stem = raw[:budget].decode("utf-8", "ignore") or stem[:1]
    return stem + suffix


def conflict_name(name: str, email: str | None, timestamp: str, *, is_dir: bool = False,
                  counter: int = 0) -> str:
    """`<stem> (SFConflict <email> <timestamp>)<.ext>`; `counter` > 0 appends ` (n)` too."""
    stem, ext = _split_ext(name, is_dir)
    tag = f" (SFConflict {email} {timestamp})" if email else f" (SFConflict {timestamp})"
    if counter:
        tag += f" ({counter})"
    return _fit(stem, tag + ext)


class _Merger:
    def __init__(self, reader: FsReader, writer: FsWriter, email: str | None,
                 timestamp: str) -> None:
        self.reader = reader
        self.writer = writer
        self.email = email
        self.timestamp = timestamp
        self.conflicts: list[str] = []

    def merge_dir(self, path: str, base_id: str, head_id: str, new_id: str) -> _Task:
        """Merge three versions of the folder at `path`; the generator returns the new id.

        Sub-merges are yielded to the trampoline in `merge_trees` instead of being called, so
        depth is not limited by Python's recursion limit.
        """
        if head_id == base_id:
            return new_id
        if new_id in (base_id, head_id):
            return head_id
        base, head, new = (load(self.reader, i) for i in (base_id, head_id, new_id))
        b_map, h_map, n_map = _by_name(base), _by_name(head), _by_name(new)
        names = b_map.keys() | h_map.keys() | n_map.keys()
        merged: dict[str, Dirent] = {}
        clashes: list[Dirent] = []
        for name in sorted(names):
            b, h, n = b_map.get(name), h_map.get(name), n_map.get(name)
            kept, extra = yield from self._merge_entry(_join(path, name), b, h, n)
            if kept is not None:
                merged[name] = kept
            if extra is not None:
                clashes.append(extra)
        taken = set(names)
        for dirent in clashes:
            counter = 0
            while (alias := conflict_name(dirent.name, self.email, self.timestamp,
                                          is_dir=dirent.is_dir, counter=counter)) in taken:
                counter += 1
            taken.add(alias)
            merged[alias] = replace(dirent, name=alias)
            self.conflicts.append(_join(path, alias))
        return store(self.writer, DirObject.of(list(merged.values())))

    def _merge_entry(self, path: str, b: Dirent | None, h: Dirent | None,
                     n: Dirent | None) -> Generator[_Task, str, tuple[Dirent | None,
                                                                   Dirent | None]]:
        """(entry kept under the name, entry to add under a conflict name)."""
        if h == b:
            return n, None
        if n in (b, h):
            return h, None
        if h is not None and n is not None and not h.is_dir and not n.is_dir and (
                h.id, h.mode) == (n.id, n.mode):
            return h, None
        base_dir = b.id if b is not None and b.is_dir else EMPTY_ID
        if h is not None and n is not None and h.is_dir and n.is_dir:
            merged_id = yield self.merge_dir(path, base_dir, h.id, n.id)
            return replace(h, id=merged_id, mtime=max(h.mtime, n.mtime)), None
        if h is None or n is None:
            changed = h if h is not None else n
            assert changed is not None
            if not (changed.is_dir and b is not None and b.is_dir):
                return changed, None
            head_id = h.id if h is not None else EMPTY_ID
            new_id = n.id if n is not None else EMPTY_ID
            merged_id = yield self.merge_dir(path, base_dir, head_id, new_id)
            if merged_id == EMPTY_ID:
                return None, None
            return replace(changed, id=merged_id), None
        return h, n


def _by_name(directory: DirObject) -> dict[str, Dirent]:
    return {dirent.name: dirent for dirent in directory.dirents}


def _join(parent: str, name: str) -> str:
    return f"{parent}/{name}" if parent != "/" else f"/{name}"


def _run(task: _Task) -> str:
    """Drive nested merge generators with an explicit stack (a trampoline)."""
    stack = [task]
    result: str | None = None
    while True:
        try:
            sub = stack[-1].send(result) if result is not None else next(stack[-1])
        except StopIteration as done:
            stack.pop()
            result = done.value
            if not stack:
                assert result is not None
                return result
            continue
        stack.append(sub)
        result = None


def merge_trees(reader: FsReader, writer: FsWriter, *, base_root: str, head_root: str,
                new_root: str, conflict_email: str | None, timestamp: str) -> MergeResult:
    """Merge `new_root` (client) into `head_root` (server) with common ancestor `base_root`.

    `timestamp` is the conflict-name time, normally `conflict_timestamp(now)`. The result is
    deterministic for given inputs. Objects are written only for folders whose merge differs
    from both sides.
    """
    merger = _Merger(reader, writer, conflict_email, timestamp)
    root_id = _run(merger.merge_dir("/", base_root, head_root, new_root))
    return MergeResult(root_id=root_id, conflicts=tuple(merger.conflicts))

