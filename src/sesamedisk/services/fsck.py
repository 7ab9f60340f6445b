"""fsck: walk every library's history and report missing or corrupt objects."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from sesamedisk.domain import codec
from sesamedisk.domain.ids import EMPTY_ID
from sesamedisk.domain.objects import DirObject, FileObject
from sesamedisk.domain.records import Library
from sesamedisk.errors import Corrupted, InvalidRequest, ObjectNotFound
from sesamedisk.ports.deps import Deps
from sesamedisk.ports.objects import ObjectKind

T = TypeVar("T")


@dataclass
class FsckReport:
    """What an fsck run checked and the problems it found."""

    libraries: int = 0
    commits: int = 0
    fs_objects: int = 0
    blocks: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems


class _LibraryChecker:
    """Checks one library's commits, trees and blocks, each object once."""

    def __init__(self, deps: Deps, library: Library, report: FsckReport) -> None:
        self.store = deps.objects
        self.library = library
        self.report = report
        self.seen_fs: set[str] = set()
        self.seen_blocks: set[str] = set()

    def problem(self, text: str) -> None:
        self.report.problems.append(f"library {self.library.id} ({self.library.name}): {text}")

    def _read(self, kind: ObjectKind, object_id: str) -> bytes | None:
        """The object's bytes, or None after recording why it cannot be read."""
        try:
            return self.store.get(kind, self.library.id, object_id)
        except ObjectNotFound:
            self.problem(f"missing {kind.value[:-1]} {object_id}")
        except (Corrupted, InvalidRequest) as exc:
            self.problem(f"corrupt {kind.value[:-1]} {object_id}: {exc.message}")
        return None

    def _decode(self, kind: ObjectKind, object_id: str,
                decode: Callable[[str, bytes], T]) -> T | None:
        raw = self._read(kind, object_id)
        if raw is None:
            return None
        try:
            return decode(object_id, raw)
        except (Corrupted, InvalidRequest) as exc:
            self.problem(f"corrupt {kind.value[:-1]} {object_id}: {exc.message}")
            return None

    def run(self) -> None:
        """Walk the history from the head, checking every commit and its tree."""
        pending = [self.library.head]
        seen_commits: set[str] = set()
        while pending:
            commit_id = pending.pop()
            if commit_id in seen_commits:
                continue
            seen_commits.add(commit_id)
            commit = self._decode(ObjectKind.COMMIT, commit_id, codec.verify_commit)
            if commit is not None:
                self.report.commits += 1
                self.check_tree(commit.root_id)
                pending.extend(commit.parents)

    def check_tree(self, root_id: str) -> None:
        """Check every fs object and block reachable from a root, each once."""
        pending = [root_id]
        while pending:
            fs_id = pending.pop()
            if fs_id == EMPTY_ID or fs_id in self.seen_fs:
                continue
            self.seen_fs.add(fs_id)
            obj = self._decode(ObjectKind.FS, fs_id, codec.verify_fs)
            if obj is None:
                continue
            self.report.fs_objects += 1
            if isinstance(obj, DirObject):
                pending.extend(d.id for d in obj.dirents)
            elif isinstance(obj, FileObject):
                for block_id in obj.block_ids:
                    self.check_block(block_id)

    def check_block(self, block_id: str) -> None:
        """Check one block's content against its id."""
        if block_id in self.seen_blocks:
            return
        self.seen_blocks.add(block_id)
        data = self._read(ObjectKind.BLOCK, block_id)
        if data is None:
            return
        if codec.sha1_hex(data) != block_id:
            self.problem(f"corrupt block {block_id}: content does not match its id")
            return
        self.report.blocks += 1


def fsck(deps: Deps) -> FsckReport:
    """Check every live library's full history; the report lists each problem found."""
    report = FsckReport()
    with deps.uow() as uow:
        libraries = list(uow.libraries.list_all())
    for library in libraries:
        report.libraries += 1
        _LibraryChecker(deps, library, report).run()
    return report
