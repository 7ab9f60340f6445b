"""History and recovery over the in-process app: versions, snapshots, restore, revert, trash."""

from __future__ import annotations

import dataclasses
import itertools
import os
import time
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sesamedisk.domain.retention import GcPolicy
from sesamedisk.services import accounts, files, history, libraries, trash
from tests.plugins.app import PASSWORD, App

ALICE, BOB = "alice@example.com", "bob@example.com"


class Library:
    """One library of one user, with shortcuts to the file and history routes."""

    def __init__(self, app: App, headers: dict[str, str], repo_id: str) -> None:
        self.app, self.headers, self.id = app, headers, repo_id
        self.base = f"/api/v1/repos/{repo_id}"

    def call(self, method: str, tail: str, *, expect: int = 200, **kwargs: Any) -> Any:
        """Send a request to the library's route `tail` and check its status."""
        response = self.app.client.request(method, self.base + tail, headers=self.headers,
                                           **kwargs)
        assert response.status_code == expect, (method, tail, response.text)
        return response

    def put(self, path: str, content: bytes) -> None:
        """Write a file."""
        self.call("PUT", "/file", params={"p": path}, content=content, expect=201)

    def mkdir(self, path: str) -> None:
        """Create a folder."""
        self.call("POST", "/dir", params={"p": path}, expect=201)

    def delete(self, path: str) -> None:
        """Delete a file or folder."""
        self.call("DELETE", "/file", params={"p": path}, expect=204)

    def read(self, path: str) -> bytes:
        """The head's content of a file."""
        return bytes(self.call("GET", "/file", params={"p": path}).content)

    def names(self, path: str = "/") -> list[str]:
        """Names in a folder of the head, sorted."""
        return sorted(d["name"] for d in self.call("GET", "/dir", params={"p": path}).json())

    def commits(self, **params: int) -> list[dict[str, Any]]:
        """The commit list."""
        result: list[dict[str, Any]] = self.call("GET", "/commits", params=params).json()
        return result

    def head(self) -> str:
        """The newest commit id."""
        return str(self.commits(limit=1)[0]["id"])

    def restore(self, commit_id: str, path: str, tail: str = "/restore") -> str:
        """Restore `path` from `commit_id`; the restored path."""
        body = {"commit_id": commit_id, "path": path}
        return str(self.call("POST", tail, json=body).json()["path"])


def _library(app: App, email: str = ALICE, name: str = "lib") -> Library:
    headers = app.login(email)
    return Library(app, headers, str(app.create_library(headers, name)["repo_id"]))


def test_file_versions_are_listed_and_downloadable_byte_exact(app: App) -> None:
    lib = _library(app)
    big = os.urandom(5 * 1024 * 1024 + 123)  # several blocks
    contents = [b"first", big, b"third version"]
    lib.mkdir("/docs")
    for content in contents:
        lib.put("/docs/a.txt", content)
    lib.put("/docs/other.txt", b"unrelated")

    versions = lib.call("GET", "/file/history", params={"p": "/docs/a.txt"}).json()
    assert [v["size"] for v in versions] == [len(c) for c in reversed(contents)]
    assert len({v["file_id"] for v in versions}) == 3
    assert all(v["creator"] == ALICE for v in versions)
    assert versions[0]["description"] == 'Modified "a.txt".'
    assert versions[-1]["description"] == 'Added "a.txt".'
    for version, content in zip(versions, reversed(contents), strict=True):
        got = lib.call("GET", f"/commits/{version['commit_id']}/file",
                       params={"p": "/docs/a.txt"})
        assert got.content == content
        assert got.headers["content-length"] == str(len(content))
    assert lib.call("GET", "/file/history", params={"p": "/nope"}).json() == []


def test_commit_list_is_newest_first_and_pages(app: App) -> None:
    lib = _library(app)
    for n in range(5):
        lib.put(f"/f{n}.txt", b"x" * n)
    commits = lib.commits(limit=100)
    assert len(commits) == 6  # the initial commit plus five edits
    assert commits[-1]["description"] == "Created library"
    assert commits[-1]["parent_id"] is None
    assert commits[0]["description"] == 'Added "f4.txt".'
    for child, parent in itertools.pairwise(commits):
        assert child["parent_id"] == parent["id"]
        assert child["ctime"] >= parent["ctime"]
        assert child["second_parent_id"] is None
    assert lib.commits(limit=2, offset=1) == commits[1:3]
    assert lib.commits(limit=2, offset=10) == []
    lib.call("GET", "/commits", params={"limit": "-1"}, expect=400)


def test_an_old_snapshot_can_be_browsed(app: App) -> None:
    lib = _library(app)
    lib.mkdir("/docs")
    lib.put("/docs/x.txt", b"x")
    lib.put("/docs/y.txt", b"yy")
    old = lib.head()
    lib.delete("/docs")
    listing = lib.call("GET", f"/commits/{old}/dir", params={"p": "/docs"}).json()
    assert [(d["name"], d["type"], d["size"]) for d in listing] == \
        [("y.txt", "file", 2), ("x.txt", "file", 1)]
    root = lib.call("GET", f"/commits/{old}/dir").json()
    assert [(d["name"], d["type"]) for d in root] == [("docs", "dir")]
    lib.call("GET", f"/commits/{old}/dir", params={"p": "/missing"}, expect=404)
    lib.call("GET", f"/commits/{old}/file", params={"p": "/docs"}, expect=404)
    lib.call("GET", f"/commits/{'e' * 40}/dir", expect=404)
    lib.call("GET", "/commits/not-an-id/dir", expect=400)


def test_restore_a_deleted_file_and_folder(app: App) -> None:
    lib = _library(app)
    lib.mkdir("/docs/sub")
    lib.put("/docs/sub/deep.txt", b"deep")
    lib.put("/a.txt", b"alpha")
    before = lib.head()
    lib.delete("/docs")
    lib.delete("/a.txt")
    count = len(lib.commits(limit=100))

    assert lib.restore(before, "/a.txt") == "/a.txt"
    assert lib.restore(before, "/docs") == "/docs"
    assert lib.read("/a.txt") == b"alpha"
    assert lib.read("/docs/sub/deep.txt") == b"deep"
    commits = lib.commits(limit=100)
    assert len(commits) == count + 2  # new commits; history kept
    assert commits[0]["description"] == 'Restored "docs".'
    # Restoring what is already there changes nothing.
    assert lib.restore(before, "/a.txt") == "/a.txt"
    assert len(lib.commits(limit=100)) == count + 2
    lib.call("POST", "/restore", json={"commit_id": before, "path": "/never"}, expect=404)
    lib.call("POST", "/restore", json={"commit_id": before}, expect=400)


def test_restore_beside_a_different_file_uses_a_restored_name(app: App) -> None:
    lib = _library(app)
    lib.put("/report.txt", b"v1")
    v1 = lib.head()
    lib.put("/report.txt", b"v2")
    assert lib.restore(v1, "/report.txt") == "/report (restored).txt"
    lib.put("/report (restored).txt", b"v3")
    assert lib.restore(v1, "/report.txt") == "/report (restored 2).txt"
    assert lib.restore(v1, "/report.txt") == "/report (restored 2).txt"  # already there
    assert lib.read("/report.txt") == b"v2"
    assert lib.read("/report (restored).txt") == b"v3"
    assert lib.read("/report (restored 2).txt") == b"v1"
    lib.mkdir("/box")
    lib.put("/box/in.txt", b"in")
    box = lib.head()
    lib.put("/box/new.txt", b"new")
    assert lib.restore(box, "/box") == "/box (restored)"
    assert lib.names("/box (restored)") == ["in.txt"]


def test_restore_recreates_missing_parent_folders(app: App) -> None:
    lib = _library(app)
    lib.mkdir("/p/q")
    lib.put("/p/q/f.txt", b"file")
    lib.put("/p/q/g.txt", b"sibling")
    old = lib.head()
    lib.delete("/p")
    assert lib.restore(old, "/p/q/f.txt") == "/p/q/f.txt"
    assert lib.names("/p/q") == ["f.txt"]
    assert lib.read("/p/q/f.txt") == b"file"
    # A file where a parent folder is needed is a conflict, never overwritten.
    lib.delete("/p")
    lib.put("/p", b"now a file")
    lib.call("POST", "/restore", json={"commit_id": old, "path": "/p/q/g.txt"}, expect=409)
    assert lib.read("/p") == b"now a file"


def test_revert_library_keeps_history(app: App) -> None:
    lib = _library(app)
    lib.mkdir("/keep")
    lib.put("/keep/a.txt", b"a")
    target = lib.head()
    old_listing = lib.call("GET", f"/commits/{target}/dir", params={"p": "/keep"}).json()
    lib.put("/keep/a.txt", b"changed")
    lib.put("/keep/b.txt", b"b")
    lib.put("/new.txt", b"new")
    before = lib.commits(limit=100)

    new_id = lib.call("POST", "/revert", json={"commit_id": target}).json()["commit_id"]
    after = lib.commits(limit=100)
    assert after[0]["id"] == new_id
    assert after[0]["parent_id"] == before[0]["id"]
    assert after[0]["description"].startswith("Reverted library to status at ")
    assert after[1:] == before  # nothing rewritten
    assert lib.names("/") == ["keep"]
    assert lib.call("GET", "/dir", params={"p": "/keep"}).json() == old_listing
    assert lib.read("/keep/a.txt") == b"a"
    # Reverting to the same state again is a no-op.
    again = lib.call("POST", "/revert", json={"commit_id": target}).json()["commit_id"]
    assert again == new_id
    lib.call("POST", "/revert", json={"commit_id": "f" * 40}, expect=404)


def test_trash_lists_deleted_items_and_restores_them(app: App) -> None:
    lib = _library(app)
    lib.mkdir("/folder/inner")
    lib.put("/folder/one.txt", b"1")
    lib.put("/folder/inner/two.txt", b"22")
    lib.put("/gone.txt", b"gone!")
    lib.put("/stays.txt", b"stays")
    lib.put("/renamed.txt", b"renamed")
    lib.call("POST", "/move", json={"path": "/renamed.txt", "dst_dir": "/",
                                     "new_name": "moved.txt"}, expect=204)
    lib.delete("/gone.txt")
    lib.delete("/folder")
    lib.put("/back.txt", b"x")
    lib.delete("/back.txt")
    lib.put("/back.txt", b"y")  # recreated: not in the trash

    items = lib.call("GET", "/trash").json()
    assert [(i["path"], i["name"], i["type"], i["size"]) for i in items] == [
        ("/folder", "folder", "dir", 3), ("/gone.txt", "gone.txt", "file", 5)]
    assert items[0]["deleted_at"] >= items[1]["deleted_at"]
    assert lib.call("GET", "/trash", params={"limit": 1}).json() == items[:1]

    assert lib.restore(items[0]["commit_id"], "/folder", "/trash/restore") == "/folder"
    assert lib.restore(items[1]["commit_id"], "/gone.txt", "/trash/restore") == "/gone.txt"
    assert lib.read("/folder/inner/two.txt") == b"22"
    assert lib.read("/folder/one.txt") == b"1"
    assert lib.read("/gone.txt") == b"gone!"
    assert lib.call("GET", "/trash").json() == []


def test_trash_respects_history_retention(app: App) -> None:
    lib = _library(app)
    lib.put("/old.txt", b"old")
    lib.delete("/old.txt")
    assert [i["path"] for i in lib.call("GET", "/trash").json()] == ["/old.txt"]
    object.__setattr__(app.deps, "gc_policy", dataclasses.replace(
        GcPolicy(), history_seconds=3600, grace_seconds=60))
    object.__setattr__(app.deps, "clock", lambda: int(time.time()) + 2 * 3600)
    assert lib.call("GET", "/trash").json() == []


def test_another_user_can_see_download_or_restore_nothing(app: App) -> None:
    lib = _library(app)
    lib.put("/secret.txt", b"secret")
    commit = lib.head()
    lib.delete("/secret.txt")
    bob = app.login(BOB)
    body = {"commit_id": commit, "path": "/secret.txt"}
    calls: list[tuple[str, str, dict[str, Any]]] = [
            ("GET", "/commits", {}),
            ("GET", f"/commits/{commit}/dir", {}),
            ("GET", f"/commits/{commit}/file", {"params": {"p": "/secret.txt"}}),
            ("GET", "/file/history", {"params": {"p": "/secret.txt"}}),
            ("POST", "/restore", {"json": body}),
            ("POST", "/revert", {"json": {"commit_id": commit}}),
            ("GET", "/trash", {}),
            ("POST", "/trash/restore", {"json": body})]
    for method, tail, kwargs in calls:
        response = app.client.request(method, lib.base + tail, headers=bob, **kwargs)
        assert response.status_code == 403, (method, tail, response.text)
        assert b"secret" not in response.content
        response = app.client.request(method, lib.base + tail, **kwargs)
        assert response.status_code == 401, (method, tail, response.text)
    # Alice's commit id is simply not found in Bob's own library.
    own = Library(app, bob, str(app.create_library(bob, "bobs")["repo_id"]))
    own.call("GET", f"/commits/{commit}/file", params={"p": "/secret.txt"}, expect=404)
    own.call("POST", "/restore", json=body, expect=404)
    own.call("POST", "/revert", json={"commit_id": commit}, expect=404)
    assert lib.call("GET", "/trash").json()[0]["path"] == "/secret.txt"


def test_encrypted_library_needs_unlocking(app: App) -> None:
    headers = app.login(ALICE)
    repo_id = str(app.create_library(headers, "vault", passwd="s3cret")["repo_id"])
    lib = Library(app, headers, repo_id)
    alice = accounts.check_credentials(app.deps, email=ALICE, password=PASSWORD)
    key = libraries.unlock_library(app.deps, alice, repo_id, "s3cret")
    files.put_file(app.deps, alice, repo_id, "/v.txt", [b"version one"], file_key=key)
    first = history.list_commits(app.deps, alice, repo_id, 1)[0].commit_id
    files.put_file(app.deps, alice, repo_id, "/v.txt", [b"version two"], file_key=key)
    body = {"commit_id": first, "path": "/v.txt"}
    for method, tail, kwargs in [
            ("GET", "/commits", {}),
            ("GET", f"/commits/{first}/dir", {}),
            ("GET", f"/commits/{first}/file", {"params": {"p": "/v.txt"}}),
            ("GET", "/file/history", {"params": {"p": "/v.txt"}}),
            ("POST", "/restore", {"json": body}),
            ("POST", "/revert", {"json": {"commit_id": first}}),
            ("GET", "/trash", {}),
            ("POST", "/trash/restore", {"json": body})]:
        lib.call(method, tail, expect=440, **kwargs)
    token = headers["Authorization"].split()[1]
    app.client.app.state.unlocked_keys.remember(token, repo_id, key)  # type: ignore[attr-defined]
    got = lib.call("GET", f"/commits/{first}/file", params={"p": "/v.txt"})
    assert got.content == b"version one"
    assert lib.restore(first, "/v.txt") == "/v (restored).txt"
    restored = files.read_file(app.deps, alice, repo_id, "/v (restored).txt", file_key=key)
    assert b"".join(restored.chunks) == b"version one"


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.one_of(st.none(), st.sampled_from([b"", b"a", b"bb", b"ccc"])),
                      min_size=1, max_size=8))
def test_every_listed_version_restores_its_bytes(app: App,
                                                 steps: list[bytes | None]) -> None:
    """A random sequence of writes (bytes) and deletes (None) of one file."""
    alice = accounts.check_credentials(app.deps, email=ALICE, password=PASSWORD)
    repo_id = libraries.create_library(app.deps, alice, name="prop").id
    expected: list[bytes] = []
    current: bytes | None = None
    for step in steps:
        if step is None:
            if current is not None:
                files.delete_path(app.deps, alice, repo_id, "/f.txt")
        else:
            files.put_file(app.deps, alice, repo_id, "/f.txt", [step])
            if step != current:
                expected.append(step)
        current = step
    versions = history.file_history(app.deps, alice, repo_id, "/f.txt")
    found = []
    for version in versions:
        content = history.read_file_at(app.deps, alice, repo_id, version.commit.commit_id,
                                       "/f.txt")
        found.append(b"".join(content.chunks))
        assert version.size == len(found[-1])
    assert found == list(reversed(expected))
    for version, content_bytes in zip(versions, found, strict=True):
        path = trash.restore_path(app.deps, alice, repo_id, version.commit.commit_id, "/f.txt")
        restored = files.read_file(app.deps, alice, repo_id, path)
        assert b"".join(restored.chunks) == content_bytes
