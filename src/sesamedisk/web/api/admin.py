"""sesamedisk's admin JSON API: storage status and reclaimable space (`/api/v1/admin/...`)."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from sesamedisk.ports.deps import Deps
from sesamedisk.ports.storage import ScrubReport, StorageStatus
from sesamedisk.services import gc, storage
from sesamedisk.web.auth import current_user

PROBLEMS_SHOWN = 100
"""Problem lines of the last scrub included in the status (the rest is only counted)."""


def _scrub_json(report: ScrubReport) -> dict[str, Any]:
    return {
        "started_at": report.started_at, "finished_at": report.finished_at,
        "objects": report.objects, "copies_checked": report.copies_checked,
        "bytes_read": report.bytes_read, "missing_copies": report.missing_copies,
        "corrupt_copies": report.corrupt_copies, "repaired": report.repaired,
        "unrecoverable": report.unrecoverable[:PROBLEMS_SHOWN],
        "unrecoverable_count": len(report.unrecoverable),
        "unreachable": report.unreachable, "clean": report.clean,
        "problems": report.problems[:PROBLEMS_SHOWN], "problem_count": len(report.problems),
    }


def status_json(status: StorageStatus) -> dict[str, Any]:
    """The storage status as the admin API shows it."""
    return {
        "mode": status.mode, "copies": status.copies, "write_quorum": status.write_quorum,
        "degraded": status.degraded, "pending_repairs": status.pending_repairs,
        "backends": [{"name": b.name, "region": b.region, "kind": b.kind,
                      "healthy": b.healthy, "last_error": b.last_error,
                      "pending_repairs": b.pending_repairs} for b in status.backends],
        "last_scrub": None if status.last_scrub is None else _scrub_json(status.last_scrub),
    }


async def admin_status(request: Request) -> Response:
    """GET /api/v1/admin/status: storage layout and health (admins only, else 403)."""
    user = await current_user(request)
    deps: Deps = request.app.state.deps
    status = await run_in_threadpool(storage.storage_status, deps, user)
    return JSONResponse({"storage": status_json(status)})


async def admin_gc(request: Request) -> Response:
    """GET /api/v1/admin/gc: what garbage collection would free, per library (a dry run)."""
    user = await current_user(request)
    deps: Deps = request.app.state.deps
    report = await run_in_threadpool(gc.reclaimable, deps, user)
    return JSONResponse({
        "reclaimable_bytes": report.bytes, "reclaimable_objects": report.objects,
        "libraries": [{"id": r.library_id, "name": r.name, "objects": r.objects,
                       "bytes": r.bytes, "purge": r.purged, "error": r.error}
                      for r in report.libraries]})


def routes() -> list[BaseRoute]:
    """The admin API's routes."""
    return [Route("/api/v1/admin/status", admin_status, methods=["GET"]),
            Route("/api/v1/admin/gc", admin_gc, methods=["GET"])]
