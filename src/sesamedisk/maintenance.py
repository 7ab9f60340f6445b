"""Background maintenance of `serve`: periodic jobs (repairs, scrub, ...) on daemon threads."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from sesamedisk.ports.storage import ScrubReport, StorageAdmin
from sesamedisk.services.storage import scrub_summary
from sesamedisk.storage_config import ScrubSettings

log = logging.getLogger("sesamedisk.maintenance")
SCRUB_MARKER = "last-scrub"
"""File in the data folder whose modification time is when serve's last scrub finished."""
PROBLEMS_LOGGED = 20
"""How many problem lines of a scrub are logged (the rest is only counted)."""


class Maintenance:
    """Runs each job on its own daemon thread, every so often, until `stop`.

    A job that raises is logged and runs again at its next turn; it never stops the
    server. `stop` does not interrupt a job in progress (daemon threads end with the process).
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._stopping = threading.Event()
        self._clock = clock
        self._threads: list[threading.Thread] = []

    def every(self, seconds: float, name: str, job: Callable[[], None], *,
              first_after: float | None = None) -> None:
        """Run `job` every `seconds` (first after `first_after`, default `seconds`)."""
        if seconds <= 0:
            raise ValueError(f"maintenance job {name}: interval must be positive")
        delay = seconds if first_after is None else first_after
        thread = threading.Thread(target=self._loop, args=(seconds, name, job, delay),
                                  name=f"maintenance-{name}", daemon=True)
        self._threads.append(thread)
        thread.start()

    def _loop(self, seconds: float, name: str, job: Callable[[], None], delay: float) -> None:
        while not self._stopping.wait(delay):
            started = self._clock()
            self._run(name, job)
            delay = max(0.0, seconds - (self._clock() - started))

    def _run(self, name: str, job: Callable[[], None]) -> None:
        try:
            job()
        except Exception:
            if self._stopping.is_set():
                log.debug("maintenance job %s ended by shutdown", name, exc_info=True)
            else:
                log.exception("maintenance job %s failed; it runs again at its next turn",
                              name)

    @property
    def jobs(self) -> list[str]:
        """Names of the running jobs."""
        return [t.name.removeprefix("maintenance-") for t in self._threads if t.is_alive()]

    def stop(self, timeout: float = 5.0) -> None:
        """Let no job start again; wait up to `timeout` seconds for running ones to end."""
        self._stopping.set()
        deadline = self._clock() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - self._clock()))


def log_scrub(report: ScrubReport) -> None:
    """Log what a scrub pass found and did: a warning with problem lines when not clean."""
    summary = scrub_summary(report)
    if report.clean:
        log.info("scrub: %s", summary)
        return
    log.warning("scrub: %s", summary)
    for line in report.problems[:PROBLEMS_LOGGED]:
        log.warning("scrub: %s", line)


class _StorageJobs:
    """The storage jobs: retry queued repairs (probing backends), and scrub."""

    def __init__(self, storage: StorageAdmin, settings: ScrubSettings,
                 marker: Path | None) -> None:
        self._storage = storage
        self._settings = settings
        self._marker = marker
        self._degraded = False

    def repair(self) -> None:
        """Carry out queued repairs; log what was done and when degradation begins or ends."""
        repaired = self._storage.repair_pending()
        if repaired:
            log.info("repair: restored or deleted %d copies", repaired)
        status = self._storage.status()
        if status.degraded != self._degraded:
            self._degraded = status.degraded
            unhealthy = [b.name for b in status.backends if not b.healthy]
            if status.degraded:
                log.warning("storage degraded: unhealthy backends %s, %d repairs pending",
                            ", ".join(unhealthy) or "none", status.pending_repairs)
            else:
                log.info("storage healthy again: every backend answers, no repair pending")

    def scrub(self) -> None:
        """One full pass at the configured rate, repairing from good copies."""
        rate = self._settings.max_mb_per_second * 1_000_000
        log_scrub(self._storage.scrub(repair=True, max_bytes_per_second=rate))
        if self._marker is not None:
            self._marker.touch()

    def first_scrub_after(self, interval: float) -> float:
        """Seconds until the next pass is due: one interval after the last one finished.

        The marker's modification time records that; a missing marker is made now, so
        restarts more frequent than the interval do not postpone scrubbing forever.
        """
        if self._marker is None:
            return interval
        if not self._marker.exists():
            self._marker.touch()
        return max(0.0, self._marker.stat().st_mtime + interval - time.time())


def start_maintenance(storage: StorageAdmin, settings: ScrubSettings, *,
                      scrub_marker: Path | None = None) -> Maintenance:
    """Start repair retries and, unless `interval_hours` is 0, periodic scrubs.

    `scrub_marker`: a file whose modification time records when the last scrub finished
    (kept across restarts); without it the first pass starts one interval from now.
    """
    maintenance = Maintenance()
    jobs = _StorageJobs(storage, settings, scrub_marker)
    maintenance.every(settings.repair_interval_seconds, "repair", jobs.repair)
    if settings.interval_hours > 0:
        interval = settings.interval_hours * 3600
        maintenance.every(interval, "scrub", jobs.scrub,
                          first_after=jobs.first_scrub_after(interval))
    return maintenance
