"""Access control and malformed input over HTTP: always a clear 4xx, never a 5xx."""

from __future__ import annotations

import json

import pytest

from tests.integration.sync_driver import SyncDriver
from tests.plugins.app import App

ALICE, BOB = "alice@example.com", "bob@example.com"
GOOD_ID = "a" * 40


def _setup(app: App) -> tuple[SyncDriver, dict[str, str], dict[str, str]]:
    alice = app.login(ALICE)
    bob = app.login(BOB)
    info = app.create_library(alice)
    repo_id = str(info["repo_id"])
    return SyncDriver(app.client, repo_id, str(info["token"]), ALICE), alice, bob


def test_other_users_cannot_read_or_write(app: App) -> None:
    driver, _, bob = _setup(app)
    repo = driver.repo_id
    for method, url in [("GET", f"/api2/repos/{repo}/download-info/"),
                        ("GET", f"/api2/repos/{repo}/"), ("DELETE", f"/api2/repos/{repo}/"),
                        ("GET", f"/api/v1/repos/{repo}/dir?p=/"),
                        ("PUT", f"/api/v1/repos/{repo}/file?p=/x.txt"),
                        ("GET", f"/api/v1/repos/{repo}/file?p=/x.txt")]:
        response = app.client.request(method, url, headers=bob, content=b"x")
        assert response.status_code == 403, (method, url, response.text)
    assert all(r["id"] != repo for r in app.client.get("/api2/repos/", headers=bob).json())


def test_repo_tokens_are_bound_to_their_library(app: App) -> None:
    driver, alice, _ = _setup(app)
    other = app.create_library(alice, name="other")
    wrong = {"Seafile-Repo-Token": str(other["token"])}
    for headers in (wrong, {"Seafile-Repo-Token": "f" * 40}, {}):
        response = app.client.get(driver.url("commit/HEAD"), headers=headers)
        assert response.status_code == 403, response.text
        response = app.client.put(driver.url(f"block/{GOOD_ID}"), content=b"x", headers=headers)
        assert response.status_code == 403, response.text


def test_api_requires_a_valid_token(app: App) -> None:
    for headers in ({}, {"Authorization": "Token nope"}, {"Authorization": "Basic abc"}):
        assert app.client.get("/api2/repos/", headers=headers).status_code == 401
    bad = app.client.post("/api2/auth-token/", data={"username": ALICE, "password": "wrong"})
    assert bad.status_code == 400
    assert "Unable to login" in bad.text


@pytest.mark.parametrize(("method", "tail", "body"), [
    ("GET", "commit/not-an-id", b""),
    ("GET", f"commit/{GOOD_ID}", b""),
    ("PUT", f"commit/{GOOD_ID}", b"{not json"),
    ("PUT", f"commit/{GOOD_ID}", b'{"commit_id": "x"}'),
    ("PUT", f"block/{GOOD_ID}", b"content that does not hash to the id"),
    ("PUT", "block/..%2F..%2Fetc", b"x"),
    ("GET", f"block/{GOOD_ID}", b""),
    ("POST", "check-fs/", b"{not json"),
    ("POST", "check-blocks/", b'{"a": 1}'),
    ("POST", "pack-fs/", b'["not-an-id"]'),
    ("POST", "pack-fs/", json.dumps([GOOD_ID]).encode()),
    ("POST", "recv-fs/", b"short"),
    ("POST", "recv-fs/", GOOD_ID.encode() + b"\x00\x00\x00\x10" + b"trunc"),
    ("POST", "recv-fs/", GOOD_ID.encode() + b"\x00\x00\x00\x04" + b"junk"),
    ("GET", "fs-id-list/?server-head=zzz", b""),
    ("GET", f"fs-id-list/?server-head={GOOD_ID}", b""),
    ("GET", "quota-check/?delta=lots", b""),
    ("GET", "quota-check/", b""),
    ("GET", f"quota-check/?delta={2**64}", b""),
    ("GET", "permission-check/?op=destroy", b""),
    ("PUT", "commit/HEAD/?head=nothex", b""),
    ("PUT", f"commit/HEAD/?head={GOOD_ID}", b""),
])
def test_malformed_sync_requests_get_a_clear_4xx(app: App, method: str, tail: str,
                                                 body: bytes) -> None:
    driver, _, _ = _setup(app)
    response = app.client.request(method, driver.url(tail), content=body, headers=driver.headers)
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    assert response.text.strip()


@pytest.mark.parametrize(("method", "url", "body"), [
    ("GET", "/seafhttp/repo/not-a-uuid/commit/HEAD", b""),
    ("POST", "/seafhttp/repo/head-commits-multi/", b"garbage"),
    ("POST", "/seafhttp/repo/head-commits-multi/", b'{"x": 1}'),
    ("GET", "/api2/repos/not-a-uuid/download-info/", b""),
    ("GET", "/api2/repos/00000000-0000-4000-8000-000000000000/download-info/", b""),
    ("GET", "/api/v1/repos/{repo}/file?p=/../../etc/passwd", b""),
    ("GET", "/api/v1/repos/{repo}/file", b""),
    ("GET", "/api/v1/repos/{repo}/file?p=/missing.txt", b""),
    ("PUT", "/api/v1/repos/{repo}/file?p=/", b"x"),
    ("PUT", "/api/v1/repos/{repo}/file?p=/a%00b", b"x"),
    ("POST", "/api/v1/repos/{repo}/move", b"[]"),
    ("DELETE", "/api/v1/repos/{repo}/file?p=/", b""),
    ("POST", "/api2/repos/", b"name="),
])
def test_malformed_api_requests_get_a_clear_4xx(app: App, method: str, url: str,
                                                body: bytes) -> None:
    driver, alice, _ = _setup(app)
    headers = {**alice, "Content-Type": "application/x-www-form-urlencoded"}
    response = app.client.request(method, url.format(repo=driver.repo_id), content=body,
                                  headers=headers)
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    assert response.text.strip()
