"""Block-level uploads of the mobile apps (spec §10.4), in-process on both databases.

The tests act as the apps do: cut the file into blocks themselves, encrypt them for an
encrypted library (AES-256-CBC with the library's file key, derived here independently of
the server's code) while the server keeps the library locked, ask which blocks are
missing, post those as raw blocks, then commit the file from its block ids.
"""

from __future__ import annotations

import hashlib
import json
import os
from urllib.parse import urlsplit

import httpx2 as httpx
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from sesamedisk.ports.objects import ObjectKind
from tests.plugins.app import App

ALICE, BOB = "alice@example.com", "bob@example.com"
PASSWORD = "phone secret"
SALT = bytes.fromhex("da9045c306c7cc26")
CHUNK = 256 * 1024


def _sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def _local(url: str) -> str:
    parts = urlsplit(url)
    assert parts.scheme in ("http", "https")
    assert parts.netloc
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _repo(app: App, headers: dict[str, str], passwd: str | None = None,
          name: str = "lib") -> dict[str, object]:
    return app.create_library(headers, name=name, passwd=passwd)


def _cut(body: bytes, size: int = CHUNK) -> list[bytes]:
    return [body[i:i + size] for i in range(0, len(body), size)]


def _link(app: App, headers: dict[str, str], repo: str, folder: str = "/",
          kind: str = "upload-blks-link") -> httpx.Response:
    return app.client.get(f"/api2/repos/{repo}/{kind}/", params={"p": folder},
                          headers=headers)


def _ask(app: App, headers: dict[str, str], repo: str, ids: list[str], *, folder: str = "/",
         kind: str = "upload-blks-link") -> dict[str, object]:
    response = app.client.post(f"/api2/repos/{repo}/{kind}/", params={"p": folder},
                               data={"blklist": ",".join(ids)}, headers=headers)
    assert response.status_code == 200, response.text
    answer: dict[str, object] = response.json()
    return answer


def _send_blocks(app: App, url: str, blocks: dict[str, bytes]) -> httpx.Response:
    """Post blocks as the apps do: one `file` part per block plus stray text fields."""
    return app.client.post(_local(url), data={"filename": "photo.jpg",
                                               "csrfmiddlewaretoken": "x" * 32},
                           files=[("file", (block_id, data)) for block_id, data in blocks.items()])


def _commit(app: App, url: str, **fields: str) -> httpx.Response:
    """Post the commit's fields as multipart (parts without a filename), as the apps do."""
    return app.client.post(_local(url), files={k: (None, v) for k, v in fields.items()})


def _fields(name: str, ids: list[str], size: int, parent: str = "/",
            **extra: str) -> dict[str, str]:
    return {"parent_dir": parent, "file_name": name, "file_size": str(size),
            "blockids": json.dumps(ids), **extra}


def _download(app: App, headers: dict[str, str], repo: str, path: str) -> httpx.Response:
    return app.client.get(f"/api/v1/repos/{repo}/file", params={"p": path}, headers=headers)


def _names(app: App, headers: dict[str, str], repo: str, folder: str = "/") -> list[str]:
    response = app.client.get(f"/api2/repos/{repo}/dir/", params={"p": folder},
                              headers=headers)
    assert response.status_code == 200, response.text
    return [entry["name"] for entry in response.json()]


def test_plain_library_round_trip_uploads_only_missing_blocks(app: App) -> None:
    alice = app.login(ALICE)
    repo = str(_repo(app, alice)["repo_id"])
    twice = os.urandom(CHUNK)
    body = twice + twice + os.urandom(CHUNK // 3)
    blocks = _cut(body)
    ids = [_sha1(b) for b in blocks]

    link = _link(app, alice, repo)
    assert link.status_code == 200, link.text
    assert "/seafhttp/upload-blks-api/" in link.json()
    answer = _ask(app, alice, repo, ids)
    token = str(answer["rawblksurl"]).rsplit("/", 1)[1]
    assert _local(str(answer["rawblksurl"])) == f"/seafhttp/upload-raw-blks-api/{token}"
    assert _local(str(answer["commiturl"])) == \
        f"/seafhttp/upload-blks-api/{token}?commitonly=true&ret-json=true"
    assert answer["blklist"] == [ids[0], ids[2]]  # in order, the repeated block once

    sent = _send_blocks(app, str(answer["rawblksurl"]), dict(zip(ids, blocks, strict=True)))
    assert sent.status_code == 200, sent.text
    assert sent.json() == "OK"
    assert _ask(app, alice, repo, ids)["blklist"] == []

    committed = _commit(app, str(answer["commiturl"]), **_fields("big.bin", ids, len(body)))
    assert committed.status_code == 200, committed.text
    file_id = committed.json()["id"]
    listing = app.client.get(f"/api2/repos/{repo}/dir/", params={"p": "/"},
                             headers=alice).json()
    assert [(e["name"], e["size"], e["id"]) for e in listing] == \
        [("big.bin", len(body), file_id)]
    download = _download(app, alice, repo, "/big.bin")
    assert download.status_code == 200, download.text
    assert download.content == body


def test_commit_follows_upload_naming_and_replace_rules(app: App) -> None:
    alice = app.login(ALICE)
    repo = str(_repo(app, alice)["repo_id"])
    app.client.post(f"/api2/repos/{repo}/dir/", params={"p": "/in"},
                    data={"operation": "mkdir"}, headers=alice)
    first, second = b"first version", b"second, longer version"
    answer = _ask(app, alice, repo, [_sha1(first), _sha1(second)], folder="/in")
    assert _send_blocks(app, str(answer["rawblksurl"]),
                        {_sha1(first): first, _sha1(second): second}).status_code == 200
    commit_url = str(answer["commiturl"])
    for data in (first, second):
        done = _commit(app, commit_url, **_fields("a.txt", [_sha1(data)], len(data), "/in"))
        assert done.status_code == 200, done.text
    assert sorted(_names(app, alice, repo, "/in")) == ["a (1).txt", "a.txt"]
    plain_url = commit_url.split("?", 1)[0] + "?commitonly=true"
    replaced = _commit(app, plain_url, **_fields("a.txt", [_sha1(second)], len(second), "/in",
                                                 replace="1"))
    assert replaced.status_code == 200, replaced.text
    assert isinstance(replaced.json(), str)  # without ret-json: the id as a JSON string
    assert len(replaced.json()) == 40
    assert _download(app, alice, repo, "/in/a.txt").content == second
    empty = _commit(app, commit_url, **_fields("empty.txt", [], 0, "/in"))
    assert empty.status_code == 200, empty.text
    assert _download(app, alice, repo, "/in/empty.txt").content == b""


def _derive(data: bytes) -> tuple[bytes, bytes]:
    key = hashlib.pbkdf2_hmac("sha256", data, SALT, 1000, 32)
    return key, hashlib.pbkdf2_hmac("sha256", key, SALT, 10, 16)


def _encrypt(key: tuple[bytes, bytes], plain: bytes) -> bytes:
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plain) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key[0]), modes.CBC(key[1])).encryptor()
    return encryptor.update(padded) + encryptor.finalize()


def _file_key(random_key: str, password: str) -> tuple[bytes, bytes]:
    """The library's block key as an app computes it from download-info and the password."""
    wrap_key, wrap_iv = _derive(password.encode())
    decryptor = Cipher(algorithms.AES(wrap_key), modes.CBC(wrap_iv)).decryptor()
    padded = decryptor.update(bytes.fromhex(random_key)) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    secret = unpadder.update(padded) + unpadder.finalize()
    assert len(secret) == 32
    return _derive(secret)


def test_encrypted_library_takes_client_encrypted_blocks_while_locked(app: App) -> None:
    alice = app.login(ALICE)
    info = _repo(app, alice, passwd=PASSWORD)
    repo, key = str(info["repo_id"]), _file_key(str(info["random_key"]), PASSWORD)
    body = os.urandom(2 * CHUNK + 1000)
    plain_blocks = _cut(body)
    blocks = [_encrypt(key, b) for b in plain_blocks]
    ids = [_sha1(b) for b in blocks]
    assert app.client.get(f"/api2/repos/{repo}/dir/", params={"p": "/"},
                          headers=alice).status_code == 440  # locked for web access

    answer = _ask(app, alice, repo, ids)
    assert answer["blklist"] == ids
    assert _send_blocks(app, str(answer["rawblksurl"]),
                        dict(zip(ids, blocks, strict=True))).status_code == 200
    for block_id, block in zip(ids, blocks, strict=True):  # stored as the app sent them
        assert app.deps.objects.get(ObjectKind.BLOCK, repo, block_id) == block
    commit_url = str(answer["commiturl"])
    # The ciphertext is 1 to 16 bytes longer per block: a size outside that is refused.
    too_big = _commit(app, commit_url, **_fields("s.bin", ids, sum(map(len, blocks))))
    assert too_big.status_code == 400, too_big.text
    committed = _commit(app, commit_url, **_fields("s.bin", ids, len(body)))
    assert committed.status_code == 200, committed.text
    assert _download(app, alice, repo, "/s.bin").status_code == 440  # still locked

    unlocked = app.client.post(f"/api2/repos/{repo}/", data={"password": PASSWORD},
                               headers=alice)
    assert unlocked.status_code == 200, unlocked.text
    entry = app.client.get(f"/api2/repos/{repo}/file/detail/", params={"p": "/s.bin"},
                           headers=alice).json()
    assert (entry["id"], entry["size"]) == (committed.json()["id"], len(body))
    download = _download(app, alice, repo, "/s.bin")
    assert download.status_code == 200, download.text
    assert download.content == body


def test_block_not_matching_its_id_is_refused_and_nothing_is_committed(app: App) -> None:
    alice = app.login(ALICE)
    repo = str(_repo(app, alice)["repo_id"])
    good, forged = b"the real block", b"something else entirely"
    answer = _ask(app, alice, repo, [_sha1(good)])
    raw_url = str(answer["rawblksurl"])
    refused = _send_blocks(app, raw_url, {_sha1(good): forged})
    assert refused.status_code == 400, refused.text
    assert not app.deps.objects.exists(ObjectKind.BLOCK, repo, _sha1(good))
    assert not app.deps.objects.exists(ObjectKind.BLOCK, repo, _sha1(forged))
    assert _send_blocks(app, raw_url, {"not-a-block-id": good}).status_code == 400
    oversized = os.urandom(10 * 1024 * 1024 + 1)
    too_large = _send_blocks(app, raw_url, {_sha1(oversized): oversized})
    assert too_large.status_code == 442, too_large.text
    assert not app.deps.objects.exists(ObjectKind.BLOCK, repo, _sha1(oversized))
    no_blocks = app.client.post(_local(raw_url), files={"filename": (None, "a.txt")})
    assert no_blocks.status_code == 400

    commit = _commit(app, str(answer["commiturl"]), **_fields("a.txt", [_sha1(good)], 14))
    assert commit.status_code == 446, commit.text
    assert commit.json()["missing"] == [_sha1(good)]
    assert _ask(app, alice, repo, [_sha1(good)])["blklist"] == [_sha1(good)]
    assert _names(app, alice, repo) == []


def test_commit_refuses_missing_blocks_wrong_sizes_and_bad_fields(app: App) -> None:
    alice = app.login(ALICE)
    repo = str(_repo(app, alice)["repo_id"])
    stored, lacking = b"uploaded block", b"never uploaded"
    ids = [_sha1(stored), _sha1(lacking)]
    answer = _ask(app, alice, repo, ids)
    assert _send_blocks(app, str(answer["rawblksurl"]),
                        {_sha1(stored): stored}).status_code == 200
    url, size = str(answer["commiturl"]), len(stored) + len(lacking)
    missing = _commit(app, url, **_fields("a.txt", ids, size))
    assert missing.status_code == 446, missing.text
    assert missing.json()["missing"] == [_sha1(lacking)]
    assert _sha1(lacking) in missing.json()["error"]
    wrong_size = _commit(app, url, **_fields("a.txt", ids[:1], len(stored) + 1))
    assert wrong_size.status_code == 400, wrong_size.text
    elsewhere = _commit(app, url, **_fields("a.txt", ids[:1], len(stored), parent="/x"))
    assert elsewhere.status_code == 403, elsewhere.text
    bad_name = _commit(app, url, **_fields("..", ids[:1], len(stored)))
    assert bad_name.status_code == 440, bad_name.text
    no_commitonly = _commit(app, url.split("?", 1)[0], **_fields("a.txt", ids[:1], len(stored)))
    assert no_commitonly.status_code == 400
    for broken in ({"blockids": "not json"}, {"blockids": '["zz"]'}, {"file_size": "-1"},
                   {"replace": "2"}):
        fields = {**_fields("a.txt", ids[:1], len(stored)), **broken}
        assert _commit(app, url, **fields).status_code == 400, broken
    as_urlencoded = app.client.post(_local(url), data=_fields("a.txt", ids[:1], len(stored)))
    assert as_urlencoded.status_code == 400
    assert _names(app, alice, repo) == []


def test_update_blocks_link_replaces_a_file_in_its_folder(app: App) -> None:
    alice = app.login(ALICE)
    repo = str(_repo(app, alice)["repo_id"])
    for path in ("/d/note.txt", "/e/other.txt"):
        put = app.client.put(f"/api/v1/repos/{repo}/file", params={"p": path},
                             content=b"old", headers=alice)
        assert put.status_code == 201, put.text
    link = _link(app, alice, repo, "/d", kind="update-blks-link")
    assert "/seafhttp/update-blks-api/" in link.json()
    new = b"new content from the phone"
    answer = _ask(app, alice, repo, [_sha1(new)], folder="/d", kind="update-blks-link")
    assert "/seafhttp/update-blks-api/" in str(answer["commiturl"])
    assert _send_blocks(app, str(answer["rawblksurl"]), {_sha1(new): new}).status_code == 200
    fields = {"file_size": str(len(new)), "blockids": json.dumps([_sha1(new)])}
    plain = f"{link.json()}?commitonly=true"
    updated = _commit(app, plain, target_file="/d/note.txt", **fields)
    assert updated.status_code == 200, updated.text
    assert len(updated.text) == 40  # the bare new file id, as Seafile answers
    assert _download(app, alice, repo, "/d/note.txt").content == new
    again = _commit(app, str(answer["commiturl"]), target_file="/d/note.txt", **fields)
    assert again.json() == {"id": updated.text}
    outside = _commit(app, plain, target_file="/e/other.txt", **fields)
    assert outside.status_code == 403
    absent = _commit(app, plain, target_file="/d/nope.txt", **fields)
    assert absent.status_code == 404
    assert _download(app, alice, repo, "/e/other.txt").content == b"old"


def test_other_users_and_other_libraries_are_refused(app: App) -> None:
    alice, bob = app.login(ALICE), app.login(BOB)
    repo = str(_repo(app, alice)["repo_id"])
    bobs = str(_repo(app, bob, name="bob's")["repo_id"])
    for kind in ("upload-blks-link", "update-blks-link"):
        assert _link(app, bob, repo, kind=kind).status_code == 403
        asked = app.client.post(f"/api2/repos/{repo}/{kind}/", params={"p": "/"},
                                data={"blklist": "a" * 40}, headers=bob)
        assert asked.status_code == 403
    assert app.client.get(f"/api2/repos/{repo}/upload-blks-link/").status_code == 401
    assert _link(app, alice, repo, "/missing").status_code == 404
    block = b"alice's block"
    alices = _ask(app, alice, repo, [_sha1(block)])
    assert _send_blocks(app, str(alices["rawblksurl"]), {_sha1(block): block}).status_code \
        == 200
    # Bob's link writes only into his own library: alice's blocks do not count there.
    bob_answer = _ask(app, bob, bobs, [_sha1(block)])
    assert bob_answer["blklist"] == [_sha1(block)]
    refused = _commit(app, str(bob_answer["commiturl"]), **_fields("x", [_sha1(block)], 13))
    assert refused.status_code == 446
    assert _names(app, alice, repo) == []
    assert _names(app, bob, bobs) == []
    for url in ("/seafhttp/upload-raw-blks-api/forged", "/seafhttp/upload-blks-api/forged",
                "/seafhttp/update-blks-api/forged"):
        assert _send_blocks(app, f"http://testserver{url}", {_sha1(block): block}).status_code \
            == 403
    # The library is looked up again whenever a link is used.
    deleted = app.client.delete(f"/api2/repos/{repo}/", headers=alice)
    assert deleted.status_code == 200, deleted.text
    gone = _send_blocks(app, str(alices["rawblksurl"]), {_sha1(block): block})
    assert gone.status_code == 444, gone.text  # Seafile: library deleted


def test_blklist_names_only_blocks_this_library_lacks(app: App) -> None:
    alice = app.login(ALICE)
    repo = str(_repo(app, alice)["repo_id"])
    other = str(_repo(app, alice, name="other")["repo_id"])
    have, new = b"already here", b"brand new"
    first = _ask(app, alice, repo, [_sha1(have)])
    assert _send_blocks(app, str(first["rawblksurl"]), {_sha1(have): have}).status_code == 200
    ids = [_sha1(have), _sha1(new), _sha1(new), _sha1(have)]
    assert _ask(app, alice, repo, ids)["blklist"] == [_sha1(new)]
    assert _ask(app, alice, other, ids)["blklist"] == [_sha1(have), _sha1(new)]
    assert _ask(app, alice, repo, [])["blklist"] == []
    bad = app.client.post(f"/api2/repos/{repo}/upload-blks-link/", params={"p": "/"},
                          data={"blklist": "not-an-id"}, headers=alice)
    assert bad.status_code == 400
