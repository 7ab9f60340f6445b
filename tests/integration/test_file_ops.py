"""File operations over /api/v1: copy, multi-delete, byte ranges, inline views and ZIP."""

from __future__ import annotations

import io
import random
import zipfile
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sesamedisk.domain import codec, tree
from sesamedisk.ports.objects import ObjectKind
from sesamedisk.services import downloads
from sesamedisk.services.library_objects import LibraryObjects
from tests.plugins.app import App

ALICE, BOB = "alice@example.com", "bob@example.com"
BIG = random.Random(20).randbytes(20 * 1024 * 1024)


def _new_library(app: App, passwd: str | None = None) -> tuple[dict[str, str], str]:
    alice = app.login(ALICE)
    return alice, str(app.create_library(alice, passwd=passwd)["repo_id"])


def _put(app: App, headers: dict[str, str], repo: str, path: str, data: bytes) -> Any:
    response = app.client.put(f"/api/v1/repos/{repo}/file", params={"p": path}, content=data,
                              headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def _names(app: App, headers: dict[str, str], repo: str, path: str = "/") -> set[str]:
    response = app.client.get(f"/api/v1/repos/{repo}/dir", params={"p": path}, headers=headers)
    assert response.status_code == 200, response.text
    return {entry["name"] for entry in response.json()}


def _download(app: App, headers: dict[str, str], repo: str, path: str) -> bytes:
    response = app.client.get(f"/api/v1/repos/{repo}/file", params={"p": path},
                              headers=headers)
    assert response.status_code == 200, response.text
    return response.content


def _head(app: App, repo: str) -> str:
    with app.deps.uow() as uow:
        library = uow.libraries.get(repo)
    assert library is not None
    return library.head


def _post(app: App, headers: dict[str, str], repo: str, op: str, body: object) -> Any:
    return app.client.post(f"/api/v1/repos/{repo}/{op}", json=body, headers=headers)


def test_copy_file_and_folder_reuses_objects(app: App) -> None:
    alice, repo = _new_library(app)
    source = _put(app, alice, repo, "/docs/a.txt", b"alpha")
    _put(app, alice, repo, "/docs/sub/b.txt", b"beta")
    app.client.post(f"/api/v1/repos/{repo}/dir", params={"p": "/target"}, headers=alice)
    blocks_before = set(app.deps.objects.iter_ids(ObjectKind.BLOCK, repo))

    response = _post(app, alice, repo, "copy", {"path": "/docs/a.txt", "dst_dir": "/target"})
    assert response.status_code == 204, response.text
    response = _post(app, alice, repo, "copy", {"path": "/docs", "dst_dir": "/target",
                                                "new_name": "docs copy"})
    assert response.status_code == 204, response.text

    assert _names(app, alice, repo, "/target") == {"a.txt", "docs copy"}
    assert _names(app, alice, repo, "/target/docs copy") == {"a.txt", "sub"}
    assert _download(app, alice, repo, "/target/docs copy/sub/b.txt") == b"beta"
    listing = app.client.get(f"/api/v1/repos/{repo}/dir", params={"p": "/target"},
                             headers=alice).json()
    assert {e["name"]: e["id"] for e in listing}["a.txt"] == source["id"]
    assert set(app.deps.objects.iter_ids(ObjectKind.BLOCK, repo)) == blocks_before
    assert _names(app, alice, repo, "/docs") == {"a.txt", "sub"}


def test_copy_and_move_into_own_subtree_are_refused(app: App) -> None:
    alice, repo = _new_library(app)
    _put(app, alice, repo, "/top/inner/f.txt", b"x")
    head = _head(app, repo)
    for op in ("copy", "move"):
        for dst in ("/top", "/top/inner"):
            response = _post(app, alice, repo, op, {"path": "/top", "dst_dir": dst})
            assert response.status_code == 400, (op, dst, response.text)
            assert "itself" in response.json()["error_msg"]
    assert _head(app, repo) == head


def test_name_clashes_are_renamed_like_seafile(app: App) -> None:
    alice, repo = _new_library(app)
    _put(app, alice, repo, "/a.txt", b"one")
    _put(app, alice, repo, "/.bashrc", b"rc")
    app.client.post(f"/api/v1/repos/{repo}/dir", params={"p": "/v1.2"}, headers=alice)
    for path in ("/a.txt", "/a.txt", "/.bashrc", "/v1.2"):
        response = _post(app, alice, repo, "copy", {"path": path, "dst_dir": "/"})
        assert response.status_code == 204, response.text
    assert _names(app, alice, repo) == {"a.txt", "a (1).txt", "a (2).txt", ".bashrc",
                                        ".bashrc (1)", "v1.2", "v1.2 (1)"}
    _put(app, alice, repo, "/sub/a.txt", b"two")
    response = _post(app, alice, repo, "move", {"path": "/sub/a.txt", "dst_dir": "/"})
    assert response.status_code == 204, response.text
    assert "a (3).txt" in _names(app, alice, repo)
    assert _download(app, alice, repo, "/a (3).txt") == b"two"
    head = _head(app, repo)
    response = _post(app, alice, repo, "move", {"path": "/a.txt", "dst_dir": "/"})
    assert response.status_code == 204
    assert _head(app, repo) == head  # moving onto itself changes nothing


def test_multi_delete_is_one_commit(app: App) -> None:
    alice, repo = _new_library(app)
    for path in ("/a.txt", "/b.txt", "/d/c.txt", "/d/e/f.txt", "/keep.txt"):
        _put(app, alice, repo, path, path.encode())
    head = _head(app, repo)
    objects = LibraryObjects(app.deps.objects, repo)
    fs_before = set(app.deps.objects.iter_ids(ObjectKind.FS, repo))

    response = _post(app, alice, repo, "delete",
                     {"paths": ["/a.txt", "/d/e", "/d/e/f.txt", "/b.txt", "/a.txt"]})
    assert response.status_code == 204, response.text

    new_head = objects.load_commit(_head(app, repo))
    assert new_head.parent_id == head
    assert _names(app, alice, repo) == {"d", "keep.txt"}
    assert _names(app, alice, repo, "/d") == {"c.txt"}
    # Only the directories of the final tree were stored, no intermediate versions.
    added = set(app.deps.objects.iter_ids(ObjectKind.FS, repo)) - fs_before
    assert added
    assert added <= set(tree.reachable_fs_ids(objects, new_head.root_id))


def test_multi_delete_with_a_missing_path_deletes_nothing(app: App) -> None:
    alice, repo = _new_library(app)
    _put(app, alice, repo, "/a.txt", b"a")
    head = _head(app, repo)
    response = _post(app, alice, repo, "delete", {"paths": ["/a.txt", "/missing.txt"]})
    assert response.status_code == 404, response.text
    assert _head(app, repo) == head
    for body in ({"paths": []}, {"paths": ["/"]}, {"paths": "/a.txt"}, [1]):
        assert _post(app, alice, repo, "delete", body).status_code == 400, body
    assert _names(app, alice, repo) == {"a.txt"}


def _get_range(app: App, headers: dict[str, str], repo: str, spec: str,
               path: str = "/big.bin") -> Any:
    return app.client.get(f"/api/v1/repos/{repo}/file", params={"p": path},
                          headers={**headers, "Range": spec})


@pytest.mark.slow
def test_ranges_of_a_many_block_file(app: App) -> None:
    alice, repo = _new_library(app)
    dirent = _put(app, alice, repo, "/big.bin", BIG)
    blocks = LibraryObjects(app.deps.objects, repo).load_file(dirent["id"]).block_ids
    assert len(blocks) > 3
    first_block = app.deps.objects.size(ObjectKind.BLOCK, repo, blocks[0])
    size = len(BIG)
    middle = (first_block - 100, first_block + 3 * 1024 * 1024)  # spans a block boundary
    cases = {"bytes=0-0": (0, 1), "bytes=-1000": (size - 1000, size),
             f"bytes={middle[0]}-{middle[1]}": (middle[0], middle[1] + 1),
             f"bytes={size - 10}-": (size - 10, size),
             f"bytes=5-{size + 100}": (5, size), f"bytes=-{size + 5}": (0, size)}
    for spec, (start, end) in cases.items():
        response = _get_range(app, alice, repo, spec)
        assert response.status_code == 206, (spec, response.text)
        assert response.content == BIG[start:end], spec
        assert response.headers["content-range"] == f"bytes {start}-{end - 1}/{size}"
        assert response.headers["content-length"] == str(end - start)
        assert response.headers["etag"] == f'"{dirent["id"]}"'
    for spec in (f"bytes={size}-", f"bytes={size + 1}-{size + 9}", "bytes=-0"):
        response = _get_range(app, alice, repo, spec)
        assert response.status_code == 416, spec
        assert response.headers["content-range"] == f"bytes */{size}"
    for spec in ("bytes=0-1,5-6", "bytes=9-3", "items=0-1", "bytes=x-"):
        response = _get_range(app, alice, repo, spec)
        assert response.status_code == 200, spec
        assert response.headers["accept-ranges"] == "bytes"
        assert len(response.content) == size
    stale = app.client.get(f"/api/v1/repos/{repo}/file", params={"p": "/big.bin"},
                           headers={**alice, "Range": "bytes=0-9", "If-Range": '"old"'})
    assert stale.status_code == 200
    assert stale.content == BIG


def test_a_block_whose_stored_size_is_wrong_is_never_served_at_a_wrong_offset(
        app: App) -> None:
    alice, repo = _new_library(app)
    data = random.Random(3).randbytes(9 * 1024 * 1024)
    dirent = _put(app, alice, repo, "/f.bin", data)
    blocks = LibraryObjects(app.deps.objects, repo).load_file(dirent["id"]).block_ids
    assert len(blocks) > 1
    victims = [path for path in app.data.rglob(blocks[0][2:])
               if path.parent.name == blocks[0][:2] and repo in path.parts]
    assert len(victims) == 1
    victims[0].chmod(0o644)
    victims[0].write_bytes(victims[0].read_bytes()[:-7])  # a truncated first block
    response = _get_range(app, alice, repo, f"bytes={len(data) - 5}-", path="/f.bin")
    assert response.status_code == 500


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_ranges_match_slicing(app: App, data: st.DataObject) -> None:
    sample = BIG[:11 * 1024 * 1024]
    if getattr(app, "range_library", None) is None:  # one library for every example
        alice, repo = _new_library(app)
        _put(app, alice, repo, "/s.bin", sample)
        setattr(app, "range_library", (alice, repo))  # noqa: B010
    alice, repo = getattr(app, "range_library")  # noqa: B009
    size = len(sample)
    start = data.draw(st.integers(-size - 10, size + 10))
    end = data.draw(st.none() | st.integers(-size - 10, size + 10))
    content = downloads.read_range(app.deps, _user(app), repo, "/s.bin", start=start, end=end)
    assert b"".join(content.chunks) == sample[start:end]
    first = data.draw(st.integers(0, size + 5))
    last = data.draw(st.integers(first, size + 5))
    response = _get_range(app, alice, repo, f"bytes={first}-{last}", path="/s.bin")
    if first >= size:
        assert response.status_code == 416
    else:
        assert response.status_code == 206
        assert response.content == sample[first:last + 1]


def _user(app: App) -> Any:
    with app.deps.uow() as uow:
        return uow.users.get_by_email(ALICE)


def test_inline_views_are_safe(app: App) -> None:
    alice, repo = _new_library(app)
    for name in ("p.png", "d.pdf", "page.html", "pic.svg", "notes.md", "blob.bin", "v.mp4"):
        _put(app, alice, repo, f"/{name}", b"<script>alert(1)</script>")

    def view(name: str) -> Any:
        response = app.client.get(f"/api/v1/repos/{repo}/file",
                                  params={"p": f"/{name}", "inline": "1"}, headers=alice)
        assert response.status_code == 200
        assert response.headers["x-content-type-options"] == "nosniff"
        return response.headers

    assert view("p.png")["content-type"] == "image/png"
    assert view("d.pdf")["content-type"] == "application/pdf"
    assert view("v.mp4")["content-type"] == "video/mp4"
    assert view("p.png")["content-disposition"].startswith("inline;")
    for name in ("page.html", "pic.svg", "notes.md"):
        assert view(name)["content-type"].startswith("text/plain"), name
    assert view("blob.bin")["content-disposition"].startswith("attachment;")
    assert view("blob.bin")["content-type"] == "application/octet-stream"
    plain = app.client.get(f"/api/v1/repos/{repo}/file", params={"p": "/page.html"},
                           headers=alice)
    assert plain.headers["content-disposition"].startswith("attachment;")


def test_zip_of_a_folder(app: App) -> None:
    alice, repo = _new_library(app)
    files = {"/proj/a.txt": b"alpha", "/proj/big.bin": BIG[:9 * 1024 * 1024],
             "/proj/sub/ünïcødé 名前.txt": "héllo".encode(), "/proj/sub/deep/z.bin": b"",
             "/other.txt": b"not in the zip"}
    for path, content in files.items():
        _put(app, alice, repo, path, content)
    app.client.post(f"/api/v1/repos/{repo}/dir", params={"p": "/proj/empty"}, headers=alice)

    response = app.client.get(f"/api/v1/repos/{repo}/zip", params={"p": "/proj"},
                              headers=alice)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert "proj.zip" in response.headers["content-disposition"]
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert archive.testzip() is None
    names = set(archive.namelist())
    assert names == {"proj/", "proj/a.txt", "proj/big.bin", "proj/sub/", "proj/sub/deep/",
                     "proj/sub/ünïcødé 名前.txt", "proj/sub/deep/z.bin", "proj/empty/"}
    for path, content in files.items():
        if path.startswith("/proj/"):
            assert archive.read(path[1:]) == content, path
    assert archive.getinfo("proj/empty/").is_dir()

    whole = app.client.get(f"/api/v1/repos/{repo}/zip", params={"p": "/"}, headers=alice)
    assert whole.status_code == 200
    assert "lib/other.txt" in zipfile.ZipFile(io.BytesIO(whole.content)).namelist()
    for path in ("/missing", "/other.txt"):
        response = app.client.get(f"/api/v1/repos/{repo}/zip", params={"p": path},
                                  headers=alice)
        assert response.status_code == 404, path


def test_other_users_cannot_touch_the_files(app: App) -> None:
    alice, repo = _new_library(app)
    _put(app, alice, repo, "/d/a.txt", b"secret")
    bob = app.login(BOB)
    head = _head(app, repo)
    attempts = [
        app.client.get(f"/api/v1/repos/{repo}/file", params={"p": "/d/a.txt"}, headers=bob),
        app.client.get(f"/api/v1/repos/{repo}/file", params={"p": "/d/a.txt"},
                       headers={**bob, "Range": "bytes=0-1"}),
        app.client.get(f"/api/v1/repos/{repo}/zip", params={"p": "/d"}, headers=bob),
        _post(app, bob, repo, "copy", {"path": "/d/a.txt", "dst_dir": "/"}),
        _post(app, bob, repo, "move", {"path": "/d/a.txt", "dst_dir": "/"}),
        _post(app, bob, repo, "delete", {"paths": ["/d/a.txt"]}),
    ]
    for response in attempts:
        assert response.status_code in (403, 404), response.text
        assert b"secret" not in response.content
    assert _head(app, repo) == head


def test_encrypted_library_needs_unlocking(app: App) -> None:
    alice, repo = _new_library(app, passwd="sesame")
    locked = [
        app.client.put(f"/api/v1/repos/{repo}/file", params={"p": "/a.txt"}, content=b"x",
                       headers=alice),
        app.client.get(f"/api/v1/repos/{repo}/file", params={"p": "/a.txt"}, headers=alice),
        app.client.get(f"/api/v1/repos/{repo}/zip", params={"p": "/"}, headers=alice),
        app.client.get(f"/api/v1/repos/{repo}/dir", params={"p": "/"}, headers=alice),
        _post(app, alice, repo, "copy", {"path": "/a.txt", "dst_dir": "/"}),
        _post(app, alice, repo, "delete", {"paths": ["/a.txt"]}),
    ]
    assert [r.status_code for r in locked] == [440] * len(locked)

    unlock = _post(app, alice, repo, "unlock", {"password": "sesame"})
    assert unlock.status_code == 204, unlock.text
    data = BIG[:9 * 1024 * 1024]
    dirent = _put(app, alice, repo, "/d/secret.bin", data)
    blocks = LibraryObjects(app.deps.objects, repo).load_file(dirent["id"]).block_ids
    stored = app.deps.objects.get(ObjectKind.BLOCK, repo, blocks[0])
    assert codec.sha1_hex(stored) == blocks[0]
    assert stored[:64] not in data  # the block is stored encrypted
    assert _download(app, alice, repo, "/d/secret.bin") == data
    for spec, expected in (("bytes=-7", data[-7:]), ("bytes=4000000-6000000",
                                                     data[4000000:6000001])):
        response = _get_range(app, alice, repo, spec, path="/d/secret.bin")
        assert response.status_code == 206, response.text
        assert response.content == expected
    assert _post(app, alice, repo, "copy", {"path": "/d", "dst_dir": "/"}).status_code == 204
    response = app.client.get(f"/api/v1/repos/{repo}/zip", params={"p": "/"}, headers=alice)
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert archive.read("lib/d (1)/secret.bin") == data
    other_session = app.login(ALICE)
    response = app.client.get(f"/api/v1/repos/{repo}/file", params={"p": "/d/secret.bin"},
                              headers=other_session)
    assert response.status_code == 440
