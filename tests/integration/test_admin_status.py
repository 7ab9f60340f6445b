"""GET /api/v1/admin/status over the real app: admins only, the embedded default's layout."""

from __future__ import annotations

from sesamedisk.services import accounts
from tests.plugins.app import PASSWORD, App

STATUS = "/api/v1/admin/status"


def test_admin_sees_one_verified_local_copy(app: App) -> None:
    accounts.create_user(app.deps, None, email="root@example.com", password=PASSWORD,
                         is_admin=True)
    response = app.client.get(STATUS, headers=app.login("root@example.com"))
    assert response.status_code == 200, response.text
    storage = response.json()["storage"]
    assert storage["mode"] == "one verified local copy"
    assert (storage["copies"], storage["write_quorum"]) == (1, 1)
    assert storage["backends"] == [{"name": "local", "region": "default", "kind": "local",
                                    "healthy": True, "last_error": None,
                                    "pending_repairs": 0}]
    assert storage["degraded"] is False
    assert storage["last_scrub"] is None


def test_last_scrub_summary_is_shown(app: App) -> None:
    accounts.create_user(app.deps, None, email="root@example.com", password=PASSWORD,
                         is_admin=True)
    app.create_library(app.login("alice@example.com"))
    assert app.deps.storage is not None
    app.deps.storage.scrub(repair=True)
    response = app.client.get(STATUS, headers=app.login("root@example.com"))
    scrub = response.json()["storage"]["last_scrub"]
    assert scrub["clean"] is True
    assert scrub["objects"] == scrub["copies_checked"] == 1  # the initial commit
    assert scrub["problems"] == []


def test_non_admin_gets_403_and_anonymous_401(app: App) -> None:
    response = app.client.get(STATUS, headers=app.login("alice@example.com"))
    assert response.status_code == 403
    assert "admins" in response.json()["error_msg"]
    assert app.client.get(STATUS).status_code == 401
