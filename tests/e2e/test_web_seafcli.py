"""Issue 4 (c): the web API and real seaf-cli clients see each other's changes, revert included."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from tests.plugins.seafcli import SyncEnv, expected_entries, snapshot, wait_until

pytestmark = pytest.mark.seafcli

CHUNK = 4 * 1024 * 1024


def _auth(env: SyncEnv) -> dict[str, str]:
    return {"Authorization": f"Token {env.token()}"}


def _web_upload(env: SyncEnv, repo_id: str, path: str, content: bytes) -> None:
    """Upload through the resumable uploads API in several Content-Range chunks."""
    headers = _auth(env)
    started = env.api.http.post(f"/api/v1/repos/{repo_id}/uploads", headers=headers,
                                json={"path": path, "size": len(content)})
    assert started.status_code == 201, started.text
    upload_id = started.json()["id"]
    for first in range(0, len(content), CHUNK):
        piece = content[first:first + CHUNK]
        last = first + len(piece) - 1
        answer = env.api.http.put(
            f"/api/v1/uploads/{upload_id}", content=piece, headers={
                **headers, "Content-Range": f"bytes {first}-{last}/{len(content)}",
                "X-Chunk-SHA256": hashlib.sha256(piece).hexdigest()})
        assert answer.status_code == (201 if last == len(content) - 1 else 200), answer.text
        assert answer.json()["received"] == last + 1


def _web_names(env: SyncEnv, repo_id: str, folder: str = "/") -> set[str]:
    listing = env.api.http.get(f"/api/v1/repos/{repo_id}/dir", params={"p": folder},
                               headers=_auth(env))
    assert listing.status_code == 200, listing.text
    return {entry["name"] for entry in listing.json()}


def test_web_and_seafcli_see_each_others_changes_and_a_revert(seaf_env: SyncEnv) -> None:
    env = seaf_env
    client = env.new_client("A")
    repo_id = env.create(client, "web-and-client")
    worktree: Path = env.clone(client, repo_id)

    from_web = os.urandom(3 * CHUNK + 12345)
    _web_upload(env, repo_id, "/from-web.bin", from_web)
    client.wait_tree(worktree, expected_entries({"from-web.bin": from_web}))
    assert (worktree / "from-web.bin").read_bytes() == from_web

    before_client_change = env.server_head(repo_id)
    (worktree / "from-client.txt").write_bytes(b"written by seaf-cli\n")
    env.wait_uploaded(client, repo_id, since=before_client_change)
    wait_until(lambda: "from-client.txt" in _web_names(env, repo_id), 60,
               "the client's file in the web listing")
    download = env.api.http.get(f"/api/v1/repos/{repo_id}/file",
                                params={"p": "/from-client.txt"}, headers=_auth(env))
    assert download.content == b"written by seaf-cli\n"

    time.sleep(1.1)  # a distinct commit time for the revert's description
    reverted = env.api.http.post(f"/api/v1/repos/{repo_id}/revert", headers=_auth(env),
                                 json={"commit_id": before_client_change})
    assert reverted.status_code == 200, reverted.text
    assert env.server_head(repo_id) == reverted.json()["commit_id"] != before_client_change
    want = expected_entries({"from-web.bin": from_web})
    client.wait_tree(worktree, want)
    assert sorted(snapshot(worktree)) == ["from-web.bin"]  # no conflict copies, no leftovers
    assert _web_names(env, repo_id) == {"from-web.bin"}
    commits = env.api.http.get(f"/api/v1/repos/{repo_id}/commits", headers=_auth(env)).json()
    assert any(c["id"] == before_client_change for c in commits)  # nothing was rewritten
