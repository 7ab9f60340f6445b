"""Storage administration use cases: status for admins, one scrub pass, copy checks."""

from __future__ import annotations

from sesamedisk.domain.records import User
from sesamedisk.errors import PermissionDenied, Unavailable
from sesamedisk.ports.deps import Deps
from sesamedisk.ports.storage import ScrubReport, StorageAdmin, StorageStatus


def storage_admin(deps: Deps) -> StorageAdmin:
    """The storage admin of `deps`; Unavailable when it was built without one."""
    if deps.storage is None:
        raise Unavailable("this server was started without storage administration")
    return deps.storage


def storage_status(deps: Deps, actor: User) -> StorageStatus:
    """Layout, backend health, repair backlog and last scrub; admins only."""
    if not actor.is_admin:
        raise PermissionDenied("only admins may see the storage status")
    return storage_admin(deps).status()


def scrub_once(deps: Deps, *, repair: bool,
               max_bytes_per_second: float | None = None) -> ScrubReport:
    """One pass over every copy of every object; with `repair`, restore bad and missing ones."""
    return storage_admin(deps).scrub(repair=repair, max_bytes_per_second=max_bytes_per_second)


def copies_good(report: ScrubReport) -> bool:
    """True when, after the pass, every copy is present and intact (all found were repaired)."""
    found = report.missing_copies + report.corrupt_copies
    return not (report.unrecoverable or report.unreachable) and report.repaired >= found


def scrub_summary(report: ScrubReport) -> str:
    """One line: objects, copies, bytes, what was found and repaired, and what is lost."""
    text = (f"{report.objects} objects, {report.copies_checked} copies, "
            f"{report.bytes_read} bytes read; {report.missing_copies} missing and "
            f"{report.corrupt_copies} corrupt copies found, {report.repaired} repaired, "
            f"{len(report.unrecoverable)} unrecoverable")
    if report.unreachable:
        text += f"; unreachable backends: {', '.join(report.unreachable)}"
    return text
