"""Seafile's web-style API (spec §10) and /seafhttp transfer links, in-process on both DBs."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

import httpx2 as httpx

from tests.plugins.app import App

ALICE, BOB = "alice@example.com", "bob@example.com"
PASSWORD = "library secret"


def _repo(app: App, headers: dict[str, str], name: str = "lib",
          passwd: str | None = None) -> str:
    return str(app.create_library(headers, name=name, passwd=passwd)["repo_id"])


def _put(app: App, headers: dict[str, str], repo: str, path: str, body: bytes) -> None:
    response = app.client.put(f"/api/v1/repos/{repo}/file", params={"p": path},
                              content=body, headers=headers)
    assert response.status_code == 201, response.text


def _local(url: str) -> str:
    """The path and query of a link the server handed out (it names the test host)."""
    parts = urlsplit(url)
    assert parts.scheme in ("http", "https")
    assert parts.netloc
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _link(app: App, headers: dict[str, str], repo: str, kind: str, path: str,
          **params: str) -> str:
    response = app.client.get(f"/api2/repos/{repo}/{kind}/", params={"p": path, **params},
                              headers=headers)
    assert response.status_code == 200, response.text
    url = response.json()
    assert isinstance(url, str)
    return _local(url)


def _listing(app: App, headers: dict[str, str], repo: str, path: str = "/") -> httpx.Response:
    return app.client.get(f"/api2/repos/{repo}/dir/", params={"p": path}, headers=headers)


def test_listing_puts_folders_first_then_files_by_lower_cased_name(app: App) -> None:
    alice = app.login(ALICE)
    repo = _repo(app, alice)
    for name in ("b.txt", "A.txt", "c.txt"):
        _put(app, alice, repo, f"/{name}", name.encode())
    for folder in ("/zeta", "/Alpha"):
        response = app.client.post(f"/api2/repos/{repo}/dir/", params={"p": folder},
                                   data={"operation": "mkdir"}, headers=alice)
        assert response.status_code == 201, response.text
    response = _listing(app, alice, repo)
    assert response.status_code == 200, response.text
    entries = response.json()
    assert [e["name"] for e in entries] == ["Alpha", "zeta", "A.txt", "b.txt", "c.txt"]
    assert [e["type"] for e in entries] == ["dir", "dir", "file", "file", "file"]
    a_txt = entries[2]
    assert (a_txt["size"], a_txt["permission"], a_txt["modifier_email"]) == (5, "rw", ALICE)
    assert len(a_txt["id"]) == 40
    assert isinstance(a_txt["mtime"], int)
    assert response.headers["dir_perm"] == "rw"
    assert len(response.headers["oid"]) == 40
    only_dirs = app.client.get(f"/api2/repos/{repo}/dir", params={"p": "/", "t": "d"},
                               headers=alice).json()
    assert [e["name"] for e in only_dirs] == ["Alpha", "zeta"]
    assert _listing(app, alice, repo, "/missing").status_code == 404


def test_mkdir_needs_create_parents_for_missing_parents(app: App) -> None:
    alice = app.login(ALICE)
    repo = _repo(app, alice)
    url = f"/api2/repos/{repo}/dir/"
    refused = app.client.post(url, params={"p": "/a/b"}, data={"operation": "mkdir"},
                              headers=alice)
    assert refused.status_code == 404
    made = app.client.post(url, params={"p": "/a/b"},
                           data={"operation": "mkdir", "create_parents": "true"}, headers=alice)
    assert made.status_code == 201
    renamed = app.client.post(url, params={"p": "/a/b"},
                              data={"operation": "rename", "newname": "c"}, headers=alice)
    assert renamed.status_code == 200, renamed.text
    assert [e["name"] for e in _listing(app, alice, repo, "/a").json()] == ["c"]
    assert app.client.delete(url, params={"p": "/a"}, headers=alice).status_code == 200
    assert _listing(app, alice, repo).json() == []


def test_download_link_is_one_time_unless_reused_and_honours_range(app: App) -> None:
    alice = app.login(ALICE)
    repo = _repo(app, alice)
    body = os.urandom(300_000)
    _put(app, alice, repo, "/docs/report.bin", body)
    response = app.client.get(f"/api2/repos/{repo}/file/", params={"p": "/docs/report.bin"},
                              headers=alice)
    assert response.status_code == 200
    assert len(response.headers["oid"]) == 40
    url = _local(response.json())
    assert url.startswith("/seafhttp/files/")
    assert url.endswith("/report.bin")
    first = app.client.get(url)
    assert first.status_code == 200
    assert first.content == body
    assert "report.bin" in first.headers["content-disposition"]
    assert app.client.get(url).status_code == 403  # consumed

    reusable = _link(app, alice, repo, "file", "/docs/report.bin", reuse="1")
    for _ in range(2):
        assert app.client.get(reusable).content == body
    part = app.client.get(reusable, headers={"Range": "bytes=1000-1999"})
    assert part.status_code == 206
    assert part.content == body[1000:2000]
    assert part.headers["content-range"] == f"bytes 1000-1999/{len(body)}"
    tail = app.client.get(reusable, headers={"Range": "bytes=-10"})
    assert tail.status_code == 206
    assert tail.content == body[-10:]
    beyond = app.client.get(reusable, headers={"Range": f"bytes={len(body)}-"})
    assert beyond.status_code == 416
    assert app.client.get("/seafhttp/files/not-a-token/report.bin").status_code == 403


def _upload(app: App, url: str, parts: list[tuple[str, tuple[str, bytes]]],
            fields: dict[str, str], **kwargs: object) -> httpx.Response:
    return app.client.post(url, data=fields, files=parts, **kwargs)  # type: ignore[arg-type]


def test_upload_link_takes_several_files_renames_clashes_and_replaces(app: App) -> None:
    alice = app.login(ALICE)
    repo = _repo(app, alice)
    app.client.post(f"/api2/repos/{repo}/dir/", params={"p": "/in"},
                    data={"operation": "mkdir"}, headers=alice)
    url = _link(app, alice, repo, "upload-link", "/in")
    assert url.startswith("/seafhttp/upload-api/")
    big = os.urandom(3_000_000)
    response = _upload(app, f"{url}?ret-json=1",
                       [("file", ("a.txt", b"alpha")), ("file", ("big.bin", big))],
                       {"parent_dir": "/in"})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert [(f["name"], f["size"]) for f in answer] == [("a.txt", 5), ("big.bin", len(big))]
    assert all(len(f["id"]) == 40 for f in answer)

    clash = _upload(app, url, [("file", ("a.txt", b"second"))], {"parent_dir": "/in"})
    assert clash.status_code == 200, clash.text
    assert len(clash.text) == 40  # without ret-json: the new file ids joined by tabs
    names = {e["name"]: e for e in _listing(app, alice, repo, "/in").json()}
    assert set(names) == {"a.txt", "a (1).txt", "big.bin"}
    assert names["a (1).txt"]["id"] == clash.text

    replaced = _upload(app, f"{url}?ret-json=1", [("file", ("a.txt", b"third!"))],
                       {"parent_dir": "/in", "replace": "1", "relative_path": ""})
    assert replaced.json()[0]["name"] == "a.txt"
    download = _link(app, alice, repo, "file", "/in/a.txt")
    assert app.client.get(download).content == b"third!"
    assert app.client.get(_link(app, alice, repo, "file", "/in/big.bin")).content == big

    nested = _upload(app, f"{url}?ret-json=1", [("file", ("deep.txt", b"x"))],
                     {"parent_dir": "/in", "relative_path": "sub/dir"})
    assert nested.status_code == 200, nested.text
    assert [e["name"] for e in _listing(app, alice, repo, "/in/sub/dir").json()] == ["deep.txt"]


def test_upload_refuses_other_folders_invalid_names_and_missing_fields(app: App) -> None:
    alice = app.login(ALICE)
    repo = _repo(app, alice)
    other = _repo(app, alice, name="other")
    for target in (repo, other):
        app.client.post(f"/api2/repos/{target}/dir/", params={"p": "/in"},
                        data={"operation": "mkdir"}, headers=alice)
    url = _link(app, alice, repo, "upload-link", "/in")
    elsewhere = _upload(app, url, [("file", ("a.txt", b"x"))], {"parent_dir": "/"})
    assert elsewhere.status_code == 403
    bad_name = _upload(app, url, [("file", ("..", b"x"))], {"parent_dir": "/in"})
    assert bad_name.status_code == 440
    missing = _upload(app, url, [("file", ("a.txt", b"x"))], {})
    assert missing.status_code == 400
    not_multipart = app.client.post(url, content=b"plain", headers={"Content-Type": "text/plain"})
    assert not_multipart.status_code == 400
    assert _listing(app, alice, repo, "/in").json() == []
    # The link belongs to `repo`: an upload through it never lands in `other`.
    done = _upload(app, url, [("file", ("a.txt", b"x"))], {"parent_dir": "/in"})
    assert done.status_code == 200, done.text
    assert _listing(app, alice, other, "/in").json() == []
    assert [e["name"] for e in _listing(app, alice, repo, "/in").json()] == ["a.txt"]
    upload_as_download = app.client.get(f"/seafhttp/files/{url.rsplit('/', 1)[1]}/a.txt")
    assert upload_as_download.status_code == 403


def test_update_link_replaces_a_file_in_its_folder_only(app: App) -> None:
    alice = app.login(ALICE)
    repo = _repo(app, alice)
    _put(app, alice, repo, "/d/note.txt", b"old")
    _put(app, alice, repo, "/e/other.txt", b"keep")
    url = _link(app, alice, repo, "update-link", "/d")
    assert url.startswith("/seafhttp/update-api/")
    response = _upload(app, url, [("file", ("note.txt", b"new content"))],
                       {"target_file": "/d/note.txt"})
    assert response.status_code == 200, response.text
    assert response.text == _listing(app, alice, repo, "/d").json()[0]["id"]
    assert app.client.get(_link(app, alice, repo, "file", "/d/note.txt")).content == \
        b"new content"
    outside = _upload(app, url, [("file", ("other.txt", b"evil"))],
                      {"target_file": "/e/other.txt"})
    assert outside.status_code == 403
    missing = _upload(app, url, [("file", ("nope.txt", b"x"))], {"target_file": "/d/nope.txt"})
    assert missing.status_code == 404
    assert app.client.get(_link(app, alice, repo, "file", "/e/other.txt")).content == b"keep"


def _uploaded(app: App, headers: dict[str, str], repo: str) -> int:
    response = app.client.get(f"/api/v2.1/repos/{repo}/file-uploaded-bytes/",
                              params={"parent_dir": "/", "file_name": "movie.bin"},
                              headers=headers)
    assert response.status_code == 200, response.text
    received: int = response.json()["uploadedBytes"]
    return received


def test_resumable_upload_in_three_chunks(app: App) -> None:
    alice = app.login(ALICE)
    repo = _repo(app, alice)
    url = _link(app, alice, repo, "upload-link", "/")
    body = os.urandom(2_500_000)
    cuts = [0, 1_000_000, 2_000_000, len(body)]
    assert _uploaded(app, alice, repo) == 0
    for index in range(3):
        first, stop = cuts[index], cuts[index + 1]
        response = _upload(
            app, f"{url}?ret-json=1", [("file", ("movie.bin", body[first:stop]))],
            {"parent_dir": "/"},
            headers={"Content-Range": f"bytes {first}-{stop - 1}/{len(body)}",
                     "Content-Disposition": 'attachment; filename="movie.bin"'})
        assert response.status_code == 200, response.text
        if index < 2:
            assert response.json() == {"success": True}
            assert _uploaded(app, alice, repo) == stop
            assert _listing(app, alice, repo).json() == []
    final = response.json()
    assert [(f["name"], f["size"]) for f in final] == [("movie.bin", len(body))]
    assert app.client.get(_link(app, alice, repo, "file", "/movie.bin")).content == body
    assert _uploaded(app, alice, repo) == 0


def test_resumable_upload_refuses_a_chunk_out_of_order(app: App) -> None:
    alice = app.login(ALICE)
    repo = _repo(app, alice)
    url = _link(app, alice, repo, "upload-link", "/")
    headers = {"Content-Range": "bytes 0-9/30"}
    first = _upload(app, url, [("file", ("movie.bin", b"0" * 10))], {"parent_dir": "/"},
                    headers=headers)
    assert first.json() == {"success": True}
    skipped = _upload(app, url, [("file", ("movie.bin", b"2" * 10))], {"parent_dir": "/"},
                      headers={"Content-Range": "bytes 20-29/30"})
    assert skipped.status_code == 409
    assert skipped.json()["received"] == 10


def test_other_users_get_nothing(app: App) -> None:
    alice, bob = app.login(ALICE), app.login(BOB)
    repo = _repo(app, alice)
    _put(app, alice, repo, "/a.txt", b"secret")
    base = f"/api2/repos/{repo}"
    for method, url, params in [
        ("GET", f"{base}/dir/", {"p": "/"}), ("POST", f"{base}/dir/", {"p": "/x"}),
        ("DELETE", f"{base}/dir/", {"p": "/"}), ("GET", f"{base}/file/", {"p": "/a.txt"}),
        ("POST", f"{base}/file/", {"p": "/a.txt"}), ("DELETE", f"{base}/file/", {"p": "/a.txt"}),
        ("GET", f"{base}/file/detail/", {"p": "/a.txt"}),
        ("GET", f"{base}/file/history/", {"p": "/a.txt"}),
        ("GET", f"{base}/upload-link/", {"p": "/"}), ("GET", f"{base}/update-link/", {"p": "/"}),
        ("POST", f"{base}/", {}), ("POST", f"/api/v2.1/repos/{repo}/set-password/", {}),
        ("GET", f"/api/v2.1/repos/{repo}/file-uploaded-bytes/",
         {"parent_dir": "/", "file_name": "a.txt"}),
    ]:
        response = app.client.request(method, url, params=params, headers=bob,
                                      data={"operation": "mkdir", "password": "x"})
        assert response.status_code in (403, 404), (method, url, response.text)
    assert app.client.get(f"{base}/dir/", params={"p": "/"}).status_code == 401


def test_file_operations_and_details(app: App) -> None:
    alice = app.login(ALICE)
    repo = _repo(app, alice)
    _put(app, alice, repo, "/a.txt", b"one")
    _put(app, alice, repo, "/a.txt", b"two!")
    url = f"/api2/repos/{repo}/file/"
    detail = app.client.get(f"{url}detail/", params={"p": "/a.txt"}, headers=alice).json()
    assert (detail["name"], detail["size"], detail["type"]) == ("a.txt", 4, "file")
    assert detail["last_modifier_email"] == ALICE
    history = app.client.get(f"{url}history/", params={"p": "/a.txt"}, headers=alice).json()
    assert [c["rev_file_size"] for c in history["commits"]] == [4, 3]
    app.client.post(f"/api2/repos/{repo}/dir/", params={"p": "/d"},
                    data={"operation": "mkdir"}, headers=alice)
    steps = [({"operation": "copy", "dst_dir": "/d", "dst_repo": repo}, "/a.txt"),
             ({"operation": "rename", "newname": "b.txt"}, "/a.txt"),
             ({"operation": "move", "dst_dir": "/d"}, "/b.txt"),
             ({"operation": "create"}, "/new.md")]
    for form, path in steps:
        response = app.client.post(url, params={"p": path}, data=form, headers=alice)
        assert response.status_code in (200, 201), (form, response.text)
    assert [e["name"] for e in _listing(app, alice, repo, "/d").json()] == ["a.txt", "b.txt"]
    assert [(e["name"], e.get("size")) for e in _listing(app, alice, repo).json()] == \
        [("d", None), ("new.md", 0)]
    assert app.client.delete(url, params={"p": "/new.md"}, headers=alice).status_code == 200
    other = _repo(app, alice, name="other")
    cross = app.client.post(url, params={"p": "/d/a.txt"},
                            data={"operation": "copy", "dst_dir": "/", "dst_repo": other},
                            headers=alice)
    assert cross.status_code == 200, cross.text
    assert [e["name"] for e in _listing(app, alice, other).json()] == ["a.txt"]
    assert [e["name"] for e in _listing(app, alice, repo, "/d").json()] == ["a.txt", "b.txt"]


def test_encrypted_library_is_locked_until_its_password_is_given(app: App) -> None:
    alice = app.login(ALICE)
    repo = _repo(app, alice, passwd=PASSWORD)
    for kind in ("dir", "file", "upload-link"):
        response = app.client.get(f"/api2/repos/{repo}/{kind}/", params={"p": "/"},
                                  headers=alice)
        assert response.status_code == 440, (kind, response.text)
    wrong = app.client.post(f"/api2/repos/{repo}/", data={"password": "nope"}, headers=alice)
    assert wrong.status_code == 400
    right = app.client.post(f"/api2/repos/{repo}/", data={"password": PASSWORD},
                            headers=alice)
    assert right.status_code == 200
    assert right.json() == "success"
    url = _link(app, alice, repo, "upload-link", "/")
    body = os.urandom(100_000)
    response = _upload(app, f"{url}?ret-json=1", [("file", ("s.bin", body))],
                       {"parent_dir": "/"})
    assert response.status_code == 200, response.text
    assert app.client.get(_link(app, alice, repo, "file", "/s.bin")).content == body
    # Another session of the same user has not unlocked it.
    other_session = app.login(ALICE)
    assert _listing(app, other_session, repo).status_code == 440
    unlocked = app.client.post(f"/api/v2.1/repos/{repo}/set-password/",
                               data={"password": PASSWORD}, headers=other_session)
    assert unlocked.status_code == 200
    assert unlocked.json() == {"success": True}
    assert [e["name"] for e in _listing(app, other_session, repo).json()] == ["s.bin"]
