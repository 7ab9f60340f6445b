"""Read side of Seafile's mobile/SeaDrive API: listings, raw blocks, block maps (spec §10)."""

from __future__ import annotations

import hashlib
import os
from typing import Any
from urllib.parse import urlsplit

import httpx2 as httpx
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from sesamedisk.services import client_reads
from tests.plugins.app import App

ALICE, BOB = "alice@example.com", "bob@example.com"
PASSWORD = "library secret"
SALT = bytes.fromhex("da9045c306c7cc26")
BIG = 9 * 1024 * 1024  # above the 8 MiB largest chunk: always two blocks or more


def _repo(app: App, headers: dict[str, str], name: str = "lib",
          passwd: str | None = None) -> dict[str, Any]:
    return app.create_library(headers, name=name, passwd=passwd)


def _put(app: App, headers: dict[str, str], repo: str, path: str, body: bytes) -> None:
    response = app.client.put(f"/api/v1/repos/{repo}/file", params={"p": path},
                              content=body, headers=headers)
    assert response.status_code == 201, response.text


def _mkdir(app: App, headers: dict[str, str], repo: str, path: str) -> None:
    response = app.client.post(f"/api2/repos/{repo}/dir/", params={"p": path},
                               data={"operation": "mkdir", "create_parents": "true"},
                               headers=headers)
    assert response.status_code == 201, response.text


def _dir(app: App, headers: dict[str, str], repo: str, **params: str) -> httpx.Response:
    return app.client.get(f"/api2/repos/{repo}/dir/", params=params, headers=headers)


def _local(url: str) -> str:
    parts = urlsplit(url)
    assert parts.scheme in ("http", "https")
    assert parts.netloc
    return parts.path


def _blocks_of(app: App, headers: dict[str, str], repo: str, path: str) -> httpx.Response:
    return app.client.get(f"/api2/repos/{repo}/file/", params={"p": path, "op": "downloadblks"},
                          headers=headers)


def _block_link(app: App, headers: dict[str, str], repo: str, file_id: str, block_id: str,
                **params: str) -> httpx.Response:
    return app.client.get(f"/api2/repos/{repo}/files/{file_id}/blks/{block_id}/download-link/",
                          params=params, headers=headers)


def _fetch_blocks(app: App, headers: dict[str, str], repo: str,
                  path: str) -> tuple[dict[str, Any], list[bytes]]:
    """The downloadblks answer and every block fetched through its own one-time link."""
    answer = _blocks_of(app, headers, repo, path)
    assert answer.status_code == 200, answer.text
    info: dict[str, Any] = answer.json()
    assert answer.headers["oid"] == info["file_id"]
    blocks = []
    for block_id in info["blklist"]:
        link = _block_link(app, headers, repo, info["file_id"], block_id)
        assert link.status_code == 200, link.text
        url = _local(link.json())
        assert url.startswith("/seafhttp/blks/")
        assert url.endswith(f"/{block_id}")
        got = app.client.get(url)
        assert got.status_code == 200, got.text
        assert int(got.headers["content-length"]) == len(got.content)
        assert hashlib.sha1(got.content).hexdigest() == block_id
        assert app.client.get(url).status_code == 403  # one-time link
        blocks.append(got.content)
    return info, blocks


def test_listing_filters_by_type_and_recurses_with_parent_dir(app: App) -> None:
    alice = app.login(ALICE)
    repo = str(_repo(app, alice)["repo_id"])
    _put(app, alice, repo, "/a.txt", b"a")
    _put(app, alice, repo, "/Docs/b.txt", b"bb")
    _put(app, alice, repo, "/Docs/Sub/c.txt", b"ccc")
    _mkdir(app, alice, repo, "/Docs/Sub/Deep")
    _mkdir(app, alice, repo, "/zeta")

    def names(**params: str) -> list[tuple[str | None, str, str]]:
        response = _dir(app, alice, repo, **params)
        assert response.status_code == 200, response.text
        assert response.headers["dir_perm"] == "rw"
        return [(e.get("parent_dir"), e["name"], e["type"]) for e in response.json()]

    assert names(p="/", t="f") == [(None, "a.txt", "file")]
    assert names(p="/", t="d") == [(None, "Docs", "dir"), (None, "zeta", "dir")]
    assert names(p="/", recursive="1") == [
        ("/", "Docs", "dir"), ("/Docs", "Sub", "dir"), ("/Docs/Sub", "Deep", "dir"),
        ("/Docs/Sub", "c.txt", "file"), ("/Docs", "b.txt", "file"), ("/", "zeta", "dir"),
        ("/", "a.txt", "file")]
    assert names(p="/", t="d", recursive="1") == [
        ("/", "Docs", "dir"), ("/Docs", "Sub", "dir"), ("/Docs/Sub", "Deep", "dir"),
        ("/", "zeta", "dir")]
    assert names(p="/Docs/", t="f", recursive="1") == [
        ("/Docs/Sub", "c.txt", "file"), ("/Docs", "b.txt", "file")]
    assert names(p="/Docs", recursive="0") == [(None, "Sub", "dir"), (None, "b.txt", "file")]

    deep = _dir(app, alice, repo, p="/", recursive="1").json()
    c_txt = next(e for e in deep if e["name"] == "c.txt")
    assert (c_txt["size"], c_txt["modifier_email"], c_txt["permission"]) == (3, ALICE, "rw")
    docs_id = next(e["id"] for e in deep if e["name"] == "Docs")
    assert _dir(app, alice, repo, p="/Docs", recursive="1").headers["oid"] == docs_id

    for bad in ({"t": "x"}, {"recursive": "yes"}):
        assert _dir(app, alice, repo, p="/", **bad).status_code == 400
    assert _dir(app, alice, repo, p="/nope", recursive="1").status_code == 404
    assert _dir(app, alice, repo, p="/a.txt", recursive="1").status_code == 404


def test_recursive_listing_over_the_limit_is_refused(app: App,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    alice = app.login(ALICE)
    repo = str(_repo(app, alice)["repo_id"])
    for name in ("a", "b", "c"):
        _put(app, alice, repo, f"/d/{name}.txt", name.encode())
    monkeypatch.setattr(client_reads, "MAX_TREE_ENTRIES", 4)
    assert len(_dir(app, alice, repo, p="/", recursive="1").json()) == 4
    _put(app, alice, repo, "/d/e.txt", b"e")
    refused = _dir(app, alice, repo, p="/", recursive="1")
    assert refused.status_code == 400
    assert "more than 4 entries" in refused.json()["error_msg"]
    assert len(_dir(app, alice, repo, p="/d").json()) == 4  # one folder: never capped
    assert len(_dir(app, alice, repo, p="/d", recursive="1").json()) == 4


def test_downloadblks_of_a_plain_library_gives_the_file_back(app: App) -> None:
    alice = app.login(ALICE)
    repo = str(_repo(app, alice)["repo_id"])
    body = os.urandom(BIG)
    _put(app, alice, repo, "/big.bin", body)
    _put(app, alice, repo, "/empty.txt", b"")
    info, blocks = _fetch_blocks(app, alice, repo, "/big.bin")
    assert (info["encrypted"], info["enc_version"]) == (False, 0)
    assert len(info["blklist"]) >= 2
    assert b"".join(blocks) == body
    listed = {e["name"]: e["id"] for e in _dir(app, alice, repo, p="/").json()}
    assert info["file_id"] == listed["big.bin"]

    empty = _blocks_of(app, alice, repo, "/empty.txt").json()
    assert empty == {"file_id": "0" * 40, "blklist": [], "encrypted": False, "enc_version": 0}
    assert _blocks_of(app, alice, repo, "/missing.bin").status_code == 404

    reusable = _block_link(app, alice, repo, info["file_id"], info["blklist"][0], reuse="1")
    url = _local(reusable.json())
    assert [app.client.get(url).content for _ in range(2)] == [blocks[0], blocks[0]]


def _client_file_key(repo_id: str, password: str, magic: str,
                     random_key: str) -> tuple[bytes, bytes]:
    """The file key and IV as the Seafile client derives them (enc_version 2)."""

    def derive(data: bytes) -> tuple[bytes, bytes]:
        key = hashlib.pbkdf2_hmac("sha256", data, SALT, 1000, 32)
        return key, hashlib.pbkdf2_hmac("sha256", key, SALT, 10, 16)

    assert derive((repo_id + password).encode())[0].hex() == magic  # the password check
    key, iv = derive(password.encode())
    secret = _unpad(_aes_decrypt(key, iv, bytes.fromhex(random_key)))
    assert len(secret) == 32
    return derive(secret)


def _aes_decrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    return decryptor.update(data) + decryptor.finalize()


def _unpad(data: bytes) -> bytes:
    pad = data[-1]
    assert 1 <= pad <= 16
    assert data[-pad:] == bytes([pad]) * pad
    return data[:-pad]


def test_downloadblks_works_on_a_locked_encrypted_library(app: App) -> None:
    writer = app.login(ALICE)
    info = _repo(app, writer, name="vault", passwd=PASSWORD)
    repo = str(info["repo_id"])
    unlocked = app.client.post(f"/api2/repos/{repo}/", data={"password": PASSWORD},
                               headers=writer)
    assert unlocked.status_code == 200, unlocked.text
    body = os.urandom(BIG)
    _put(app, writer, repo, "/secret.bin", body)

    phone = app.login(ALICE)  # a new session: the library is locked for it
    assert _dir(app, phone, repo, p="/").status_code == 440
    blocks_info, blocks = _fetch_blocks(app, phone, repo, "/secret.bin")
    assert (blocks_info["encrypted"], blocks_info["enc_version"]) == (True, 2)
    assert len(blocks) >= 2
    assert b"".join(blocks) != body
    key, iv = _client_file_key(repo, PASSWORD, str(info["magic"]), str(info["random_key"]))
    plain = b"".join(_unpad(_aes_decrypt(key, iv, block)) for block in blocks)
    assert plain == body


def test_block_links_only_serve_blocks_of_their_file(app: App) -> None:
    alice = app.login(ALICE)
    repo = str(_repo(app, alice)["repo_id"])
    other = str(_repo(app, alice, name="other")["repo_id"])
    _put(app, alice, repo, "/x.txt", b"x content")
    _put(app, alice, repo, "/y.txt", b"y content")
    _put(app, alice, other, "/z.txt", b"z content")
    x = _blocks_of(app, alice, repo, "/x.txt").json()
    y = _blocks_of(app, alice, repo, "/y.txt").json()
    z = _blocks_of(app, alice, other, "/z.txt").json()
    x_block, y_block = x["blklist"][0], y["blklist"][0]

    assert _block_link(app, alice, repo, x["file_id"], y_block).status_code == 403
    assert _block_link(app, alice, repo, x["file_id"], "f" * 40).status_code == 403
    assert _block_link(app, alice, repo, z["file_id"], z["blklist"][0]).status_code == 404
    assert _block_link(app, alice, repo, "nothex", x_block).status_code == 400

    link = _local(_block_link(app, alice, repo, x["file_id"], x_block, reuse="1").json())
    token = link.split("/")[3]
    assert app.client.get(f"/seafhttp/blks/{token}/{y_block}").status_code == 403
    assert app.client.get(f"/seafhttp/blks/{token}/{z['blklist'][0]}").status_code == 403
    assert app.client.get(f"/seafhttp/blks/not-a-token/{x_block}").status_code == 403
    assert app.client.get(link).content == b"x content"
    # A download-file token is not a block token, nor the other way round.
    file_link = _local(app.client.get(f"/api2/repos/{repo}/file/", params={"p": "/x.txt"},
                                      headers=alice).json())
    assert app.client.get(f"/seafhttp/blks/{file_link.split('/')[3]}/{x_block}").status_code \
        == 403
    assert app.client.get(f"/seafhttp/files/{token}/x.txt").status_code == 403
    # Redeeming re-checks the library: once it is deleted the link serves nothing.
    assert app.client.delete(f"/api/v1/repos/{repo}", headers=alice).status_code in (200, 204)
    assert app.client.get(link).status_code in (403, 404, 444)


def test_another_user_gets_nothing_from_the_new_endpoints(app: App) -> None:
    alice, bob = app.login(ALICE), app.login(BOB)
    info = _repo(app, alice)
    repo = str(info["repo_id"])
    bob_token = str(_repo(app, bob, name="bobs")["token"])
    _put(app, alice, repo, "/a.txt", b"secret")
    blocks = _blocks_of(app, alice, repo, "/a.txt").json()
    file_id, block_id = blocks["file_id"], blocks["blklist"][0]
    for response in (
        _dir(app, bob, repo, p="/", recursive="1"),
        _dir(app, bob, repo, p="/", t="f", recursive="1"),
        _blocks_of(app, bob, repo, "/a.txt"),
        _block_link(app, bob, repo, file_id, block_id),
        app.client.get(f"/seafhttp/repo/{repo}/block-map/{file_id}",
                       headers={"Seafile-Repo-Token": bob_token}),
        app.client.get("/seafhttp/accessible-repos/", params={"repo_id": repo},
                       headers={"Seafile-Repo-Token": bob_token}),
    ):
        assert response.status_code in (403, 404), (response.request.url, response.text)
        assert b"secret" not in response.content
    assert _dir(app, {}, repo, p="/", recursive="1").status_code == 401
    assert _blocks_of(app, {}, repo, "/a.txt").status_code == 401
    assert _block_link(app, {}, repo, file_id, block_id).status_code == 401


def test_block_map_sums_to_the_file_size(app: App) -> None:
    alice = app.login(ALICE)
    info = _repo(app, alice)
    repo, token = str(info["repo_id"]), str(info["token"])
    body = os.urandom(BIG)
    _put(app, alice, repo, "/big.bin", body)
    blocks = _blocks_of(app, alice, repo, "/big.bin").json()
    url = f"/seafhttp/repo/{repo}/block-map/{blocks['file_id']}"
    for headers in ({"Seafile-Repo-Token": token}, {"Authorization": f"Token {token}"}):
        response = app.client.get(url, headers=headers)
        assert response.status_code == 200, response.text
        sizes = response.json()
        assert len(sizes) == len(blocks["blklist"]) >= 2
        assert sum(sizes) == len(body)
    assert app.client.get(url).status_code == 403
    assert app.client.get(url, headers=alice).status_code == 403  # an api token is not one
    assert app.client.get(f"/seafhttp/repo/{repo}/block-map/{'e' * 40}",
                          headers={"Seafile-Repo-Token": token}).status_code == 404
    empty = app.client.get(f"/seafhttp/repo/{repo}/block-map/{'0' * 40}/",
                           headers={"Seafile-Repo-Token": token})
    assert empty.json() == []


def test_accessible_repos_lists_the_users_libraries(app: App) -> None:
    alice, bob = app.login(ALICE), app.login(BOB)
    first = _repo(app, alice, name="first")
    second = _repo(app, alice, name="second", passwd=PASSWORD)
    _repo(app, bob, name="bobs")
    response = app.client.get("/seafhttp/accessible-repos/",
                              params={"repo_id": first["repo_id"]},
                              headers={"Seafile-Repo-Token": str(first["token"])})
    assert response.status_code == 200, response.text
    listed = {r["id"]: r for r in response.json()}
    assert set(listed) == {first["repo_id"], second["repo_id"]}
    entry = listed[first["repo_id"]]
    assert set(entry) == {"version", "id", "head_commit_id", "name", "mtime", "permission",
                          "type", "owner"}
    assert (entry["name"], entry["permission"], entry["type"], entry["owner"]) == \
        ("first", "rw", "repo", ALICE)
    head = app.client.get(f"/seafhttp/repo/{first['repo_id']}/commit/HEAD",
                          headers={"Seafile-Repo-Token": str(first["token"])}).json()
    assert entry["head_commit_id"] == head["head_commit_id"]
    assert isinstance(entry["mtime"], int)
    wrong_repo = app.client.get("/seafhttp/accessible-repos", params={"repo_id": second["repo_id"]},
                                headers={"Seafile-Repo-Token": str(first["token"])})
    assert wrong_repo.status_code == 403
    assert app.client.get("/seafhttp/accessible-repos", params={"repo_id": "x"},
                          headers={"Seafile-Repo-Token": str(first["token"])}).status_code == 400
