"""The StorageAdmin port: health, scrubbing and repair of the object store's copies."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class BackendHealth:
    """One backend as the admin sees it."""

    name: str
    region: str
    kind: str
    """"local" or "s3"."""
    healthy: bool
    last_error: str | None
    pending_repairs: int


@dataclass(frozen=True)
class CopyFinding:
    """One bad copy a check found: "missing" or "corrupt" on a backend, or "lost" everywhere."""

    kind: str
    scope: str
    object_id: str
    backend: str
    """The backend's name ("" for "lost": no good copy on any backend)."""
    state: str


@dataclass
class ScrubReport:
    """What one scrub (or copy check) pass found and did."""

    started_at: int = 0
    finished_at: int = 0
    objects: int = 0
    copies_checked: int = 0
    bytes_read: int = 0
    missing_copies: int = 0
    corrupt_copies: int = 0
    repaired: int = 0
    unrecoverable: list[str] = field(default_factory=list)
    """Objects ("kind/scope/id") with no good copy left anywhere."""
    unreachable: list[str] = field(default_factory=list)
    """Backends that could not be asked during the pass."""
    problems: list[str] = field(default_factory=list)
    """One line per bad or missing copy found (before any repair)."""
    findings: list[CopyFinding] = field(default_factory=list)
    """The same findings, structured (a read-only check fills it)."""

    @property
    def clean(self) -> bool:
        """True when every copy was reachable, present and intact."""
        return not (self.missing_copies or self.corrupt_copies or self.unrecoverable
                    or self.unreachable)


@dataclass(frozen=True)
class StorageStatus:
    """The storage layout and its health, for the admin status page."""

    mode: str
    """A sentence: "one verified local copy" or "3 copies on 3 backends, write quorum 2"."""
    copies: int
    write_quorum: int
    backends: tuple[BackendHealth, ...]
    pending_repairs: int
    degraded: bool
    last_scrub: ScrubReport | None


class StorageAdmin(Protocol):
    """Maintenance of stored copies; implemented next to the object store adapters."""

    def status(self) -> StorageStatus:
        """Layout, backend health, repair backlog and the last scrub's findings."""
        ...

    def scrub(self, *, repair: bool, max_bytes_per_second: float | None = None,
              scope: str | None = None) -> ScrubReport:
        """Re-read and verify every copy (of one scope, or all); with `repair`, fix bad ones."""
        ...

    def repair_pending(self) -> int:
        """Carry out queued repairs now; returns how many copies were restored or deleted."""
        ...

    def check_regions(self, regions: frozenset[str] | None) -> None:
        """InvalidRequest when a library pinned to `regions` could not be stored."""
        ...
