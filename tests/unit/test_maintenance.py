"""The background maintenance runner: scheduling, surviving failures, stopping, storage jobs."""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from sesamedisk.adapters.objects.local import LocalObjectStore
from sesamedisk.adapters.objects.storage_admin import SingleStoreAdmin
from sesamedisk.maintenance import Maintenance, start_maintenance
from sesamedisk.ports.objects import ObjectKind
from sesamedisk.storage_config import ScrubSettings
from tests.contract.test_object_store import SCOPE_A, sample


def _wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_job_runs_repeatedly_until_stopped() -> None:
    runs: list[float] = []
    maintenance = Maintenance()
    maintenance.every(0.02, "tick", lambda: runs.append(time.monotonic()))
    assert maintenance.jobs == ["tick"]
    _wait_for(lambda: len(runs) >= 3)
    maintenance.stop()
    count = len(runs)
    time.sleep(0.1)
    assert len(runs) == count
    assert maintenance.jobs == []
    assert all(later - earlier >= 0.015 for earlier, later in itertools.pairwise(runs))


def test_first_run_waits_for_first_after() -> None:
    ran = threading.Event()
    maintenance = Maintenance()
    started = time.monotonic()
    maintenance.every(3600, "late", ran.set, first_after=0.2)
    assert ran.wait(5)
    assert time.monotonic() - started >= 0.19
    maintenance.stop()


def test_a_failing_job_is_logged_and_runs_again(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[int] = []

    def flaky() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("backend exploded")

    maintenance = Maintenance()
    with caplog.at_level(logging.ERROR, logger="sesamedisk.maintenance"):
        maintenance.every(0.01, "flaky", flaky)
        _wait_for(lambda: len(calls) >= 3)
        maintenance.stop()
    failures = [r for r in caplog.records if "maintenance job flaky failed" in r.getMessage()]
    assert len(failures) == 1
    assert failures[0].exc_info is not None


def test_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        Maintenance().every(0, "never", lambda: None)


def test_storage_jobs_scrub_and_log_findings(tmp_path: Path,
                                             caplog: pytest.LogCaptureFixture) -> None:
    local = LocalObjectStore(tmp_path / "objects")
    block_id, data = sample(ObjectKind.BLOCK, SCOPE_A, 3)
    local.put(ObjectKind.BLOCK, SCOPE_A, block_id, data)
    path = tmp_path / "objects" / SCOPE_A / "blocks" / block_id[:2] / block_id[2:]
    path.write_bytes(b"rotten" + data)
    admin = SingleStoreAdmin(local)
    settings = ScrubSettings(interval_hours=0.02 / 3600, repair_interval_seconds=0.02)
    with caplog.at_level(logging.INFO, logger="sesamedisk.maintenance"):
        maintenance = start_maintenance(admin, settings)
        assert sorted(maintenance.jobs) == ["repair", "scrub"]
        _wait_for(lambda: admin.status().last_scrub is not None)
        _wait_for(lambda: any("corrupt copy of" in r.getMessage() for r in caplog.records))
        maintenance.stop()
    last = admin.status().last_scrub
    assert last is not None
    assert last.unrecoverable == [f"blocks/{SCOPE_A}/{block_id}"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("1 corrupt copies found" in message for message in warnings)


def test_no_scrub_job_when_interval_is_zero(tmp_path: Path) -> None:
    admin = SingleStoreAdmin(LocalObjectStore(tmp_path / "objects"))
    maintenance = start_maintenance(admin, ScrubSettings(interval_hours=0))
    try:
        assert maintenance.jobs == ["repair"]
    finally:
        maintenance.stop()


def test_scrub_is_due_one_interval_after_the_last_across_restarts(tmp_path: Path) -> None:
    admin = SingleStoreAdmin(LocalObjectStore(tmp_path / "objects"))
    marker = tmp_path / "last-scrub"
    weekly = ScrubSettings(interval_hours=168)
    fresh = start_maintenance(admin, weekly, scrub_marker=marker)
    fresh.stop()
    assert marker.exists()  # the first start begins the count
    assert admin.status().last_scrub is None

    eight_days_ago = time.time() - 8 * 24 * 3600
    os.utime(marker, (eight_days_ago, eight_days_ago))
    overdue = start_maintenance(admin, weekly, scrub_marker=marker)
    try:
        _wait_for(lambda: admin.status().last_scrub is not None)
        _wait_for(lambda: marker.stat().st_mtime > eight_days_ago)
    finally:
        overdue.stop()
