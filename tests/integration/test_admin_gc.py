"""GET /api/v1/admin/gc over the real app: reclaimable bytes per library, admins only."""

from __future__ import annotations

import dataclasses
import time

from sesamedisk.domain.retention import GcPolicy
from sesamedisk.services import accounts
from tests.plugins.app import PASSWORD, App

GC = "/api/v1/admin/gc"


def test_admin_sees_what_gc_would_free_and_nothing_is_deleted(app: App) -> None:
    accounts.create_user(app.deps, None, email="root@example.com", password=PASSWORD,
                         is_admin=True)
    alice = app.login("alice@example.com")
    library = str(app.create_library(alice, "photos")["repo_id"])
    content = bytes(range(256)) * 2000
    put = app.client.put(f"/api/v1/repos/{library}/file", params={"p": "/big.bin"},
                         content=content, headers=alice)
    assert put.status_code == 201, put.text
    deleted = app.client.delete(f"/api/v1/repos/{library}/file", params={"p": "/big.bin"},
                                headers=alice)
    assert deleted.status_code in (200, 204), deleted.text
    admin = app.login("root@example.com")

    # The default policy keeps all history: nothing is reclaimable.
    kept = app.client.get(GC, headers=admin)
    assert kept.status_code == 200, kept.text
    assert kept.json()["reclaimable_bytes"] == 0

    object.__setattr__(app.deps, "gc_policy", dataclasses.replace(
        GcPolicy(), history_seconds=0, grace_seconds=0))
    # Ten seconds later: the deletion is older than the (zero) retention and grace.
    object.__setattr__(app.deps, "clock", lambda: int(time.time()) + 10)
    report = app.client.get(GC, headers=admin).json()
    assert report["reclaimable_bytes"] >= len(content)
    (entry,) = [r for r in report["libraries"] if r["id"] == library]
    assert (entry["name"], entry["purge"], entry["error"]) == ("photos", False, None)
    assert entry["bytes"] >= len(content)
    # A dry run: asking again reports the same.
    assert app.client.get(GC, headers=admin).json()["reclaimable_bytes"] == \
        report["reclaimable_bytes"]


def test_non_admin_is_refused(app: App) -> None:
    response = app.client.get(GC, headers=app.login("alice@example.com"))
    assert response.status_code == 403
    assert app.client.get(GC).status_code == 401
