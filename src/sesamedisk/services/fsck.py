"""fsck: check every stored copy, then walk each library's history for missing or bad objects."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeVar

from sesamedisk.domain import codec, retention
from sesamedisk.domain.ids import EMPTY_ID
from sesamedisk.domain.objects import Commit, DirObject, FileObject
from sesamedisk.domain.records import Library
from sesamedisk.errors import Corrupted, InvalidRequest, ObjectNotFound
from sesamedisk.ports.deps import Deps
from sesamedisk.ports.objects import ObjectKind
from sesamedisk.ports.storage import ScrubReport

T = TypeVar("T")
PRESENCE_BATCH = 1000
"""Block ids asked about per `missing` call."""


@dataclass
class FsckReport:
    """What an fsck run checked, repaired and the problems it found."""

    libraries: int = 0
    commits: int = 0
    fs_objects: int = 0
    blocks: int = 0
    copies: int = 0
    """Stored copies re-read and verified by the per-copy check."""
    repaired: int = 0
    """Copies restored by `--repair` before the check."""
    garbage_copies: int = 0
    """Bad or missing copies of objects no kept version references (gc removes them)."""
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems


class _LibraryChecker:
    """Checks one library's commits, trees and blocks, each object once.

    `blocks_verified`: every stored copy was just re-hashed by the copy check, so a
    referenced block only has to be present; otherwise each block is read and hashed.
    """

    def __init__(self, deps: Deps, library: Library, report: FsckReport, *,
                 blocks_verified: bool) -> None:
        self.store = deps.objects
        self.library = library
        self.report = report
        self.blocks_verified = blocks_verified
        self.seen_commits: set[str] = set()
        self.seen_fs: set[str] = set()
        self.seen_blocks: set[str] = set()

    def problem(self, text: str) -> None:
        """Record one problem of this library."""
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
        """Check every commit of the history, then the trees retention keeps."""
        commits = self._history()
        self.seen_commits = set(commits)
        for commit_id in self._kept(commits):
            self.check_tree(commits[commit_id].root_id)
        self._check_block_presence()

    def referenced(self, kind: str, object_id: str) -> bool:
        """True when the kept history (as walked by `run`) needs the object."""
        seen = {ObjectKind.COMMIT.value: self.seen_commits, ObjectKind.FS.value: self.seen_fs,
                ObjectKind.BLOCK.value: self.seen_blocks}
        return object_id in seen.get(kind, set())

    def _history(self) -> dict[str, Commit]:
        """Every readable commit reachable from the head (unreadable ones are problems)."""
        commits: dict[str, Commit] = {}
        pending = [self.library.head]
        seen: set[str] = set()
        while pending:
            commit_id = pending.pop()
            if commit_id in seen:
                continue
            seen.add(commit_id)
            commit = self._decode(ObjectKind.COMMIT, commit_id, codec.verify_commit)
            if commit is not None:
                self.report.commits += 1
                commits[commit_id] = commit
                pending.extend(commit.parents)
        return commits

    def _kept(self, commits: dict[str, Commit]) -> Iterable[str]:
        """The commits whose trees must be complete: those history retention keeps.

        Older commits may have had their trees collected. When an unreadable commit
        (already a problem) cuts the history short, every readable commit is checked.
        """
        cutoff = self.library.expired_before or None
        try:
            return sorted(retention.kept_commits(commits.__getitem__, self.library.head,
                                                 cutoff))
        except KeyError:
            return sorted(commits)

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
        """Check one block: read and hash it, or only note it when copies were verified."""
        if block_id in self.seen_blocks:
            return
        self.seen_blocks.add(block_id)
        if self.blocks_verified:
            return
        data = self._read(ObjectKind.BLOCK, block_id)
        if data is None:
            return
        if codec.sha1_hex(data) != block_id:
            self.problem(f"corrupt block {block_id}: content does not match its id")
            return
        self.report.blocks += 1

    def _check_block_presence(self) -> None:
        """With verified copies: every referenced block must be stored."""
        if not self.blocks_verified:
            return
        ids = sorted(self.seen_blocks)
        for start in range(0, len(ids), PRESENCE_BATCH):
            batch = ids[start:start + PRESENCE_BATCH]
            absent = self.store.missing(ObjectKind.BLOCK, self.library.id, batch)
            for block_id in absent:
                self.problem(f"missing block {block_id}")
            self.report.blocks += len(batch) - len(absent)


def _checked_libraries(deps: Deps) -> list[Library]:
    """Live and trashed libraries; not ones still being created or being purged."""
    with deps.uow() as uow:
        return [library for library in uow.libraries.list_all(include_deleted=True)
                if not library.creating and not uow.libraries.is_purging(library.id)]


def _copy_problems(checker: _LibraryChecker, copies: ScrubReport,
                   report: FsckReport) -> None:
    """Bad copies of objects the kept history needs are problems; the rest is garbage."""
    library = checker.library
    where = f"library {library.id} ({library.name})"
    for finding in copies.findings:
        if not checker.referenced(finding.kind, finding.object_id):
            report.garbage_copies += 1
            continue
        shown = f"{finding.kind}/{finding.scope}/{finding.object_id}"
        if finding.state == "lost":
            report.problems.append(f"{where}: no good copy left of {shown}")
        else:
            report.problems.append(f"{where}: {finding.state} copy of {shown} on backend "
                                   f"{finding.backend}")
    report.problems += [f"{where}: backend {name} could not be reached"
                        for name in copies.unreachable]


def fsck(deps: Deps, *, repair: bool = False,
         max_bytes_per_second: float | None = None) -> FsckReport:
    """Check every library: each stored copy (repaired first with `repair`), then its history.

    Libraries still being created or being purged are skipped. Without a storage admin in
    `deps` only the history walk runs (reading and hashing every block). Bad copies of
    objects that no kept version references (an upload killed mid-write, a collected
    version) are counted as garbage, not problems: `sesame gc` removes them.
    """
    report = FsckReport()
    storage = deps.storage
    for library in _checked_libraries(deps):
        report.libraries += 1
        if storage is not None and repair:
            report.repaired += storage.scrub(
                repair=True, max_bytes_per_second=max_bytes_per_second,
                scope=library.id).repaired
        checker = _LibraryChecker(deps, library, report, blocks_verified=storage is not None)
        checker.run()
        if storage is not None:
            copies = storage.scrub(repair=False, max_bytes_per_second=max_bytes_per_second,
                                   scope=library.id)
            report.copies += copies.copies_checked
            _copy_problems(checker, copies, report)
    return report
