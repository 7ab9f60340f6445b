"""Copy and move between libraries over /api/v1 and api2: bytes, keys, permissions, clashes."""

from __future__ import annotations

import random
from typing import Any

import pytest

from sesamedisk.domain import codec, crypto, tree
from sesamedisk.ports.objects import ObjectKind
from sesamedisk.services.fsck import fsck
from sesamedisk.services.library_objects import LibraryObjects
from tests.plugins.app import App

ALICE, BOB = "alice@example.com", "bob@example.com"
BIG = random.Random(4).randbytes(12 * 1024 * 1024)
"""More than the 8 MiB largest chunk, so it is stored as several blocks."""
TREE = {
    "/tree/a.txt": b"alpha\n",
    "/tree/big.bin": BIG,
    "/tree/empty.txt": b"",
    "/tree/sub/b.txt": b"beta " * 1000,
    "/tree/sub/a again.txt": b"alpha\n",
    "/tree/sub/deeper/c.md": b"# gamma\n",
}
Headers = dict[str, str]


def _library(app: App, headers: Headers, name: str, password: str | None = None) -> str:
    body = {"name": name} if password is None else {"name": name, "password": password}
    made = app.client.post("/api/v1/repos", json=body, headers=headers)
    assert made.status_code == 201, made.text
    library_id: str = made.json()["id"]
    if password is not None:
        _unlock(app, headers, library_id, password)
    return library_id


def _unlock(app: App, headers: Headers, repo: str, password: str) -> None:
    unlocked = app.client.post(f"/api/v1/repos/{repo}/unlock", json={"password": password},
                               headers=headers)
    assert unlocked.status_code == 204, unlocked.text


def _put(app: App, headers: Headers, repo: str, path: str, data: bytes) -> None:
    response = app.client.put(f"/api/v1/repos/{repo}/file", params={"p": path}, content=data,
                              headers=headers)
    assert response.status_code == 201, response.text


def _seed(app: App, headers: Headers, repo: str) -> None:
    for path, data in TREE.items():
        _put(app, headers, repo, path, data)
    made = app.client.post(f"/api/v1/repos/{repo}/dir", params={"p": "/tree/nothing"},
                           headers=headers)
    assert made.status_code == 201, made.text


def _files(app: App, headers: Headers, repo: str, folder: str) -> dict[str, bytes]:
    """Every file below `folder` (paths relative to it) with its bytes, read over GET."""
    out: dict[str, bytes] = {}
    prefix = len(folder.rstrip("/"))
    pending = [folder]
    while pending:
        current = pending.pop()
        listing = app.client.get(f"/api/v1/repos/{repo}/dir", params={"p": current},
                                 headers=headers)
        assert listing.status_code == 200, listing.text
        for entry in listing.json():
            path = f"{current.rstrip('/')}/{entry['name']}"
            if entry["type"] == "dir":
                pending.append(path)
                out[path[prefix:] + "/"] = b""
                continue
            got = app.client.get(f"/api/v1/repos/{repo}/file", params={"p": path},
                                 headers=headers)
            assert got.status_code == 200, got.text
            out[path[prefix:]] = got.content
    return out


EXPECTED = {path[len("/tree"):]: data for path, data in TREE.items()} | {
    "/sub/": b"", "/sub/deeper/": b"", "/nothing/": b""}


def _transfer(app: App, headers: Headers, op: str, src: str, dst: str, **body: Any) -> Any:
    return app.client.post(f"/api/v1/repos/{src}/{op}",
                           json={"path": "/tree", "dst_dir": "/", "dst_repo": dst, **body},
                           headers=headers)


def _blocks(app: App, repo: str) -> set[str]:
    return set(app.deps.objects.iter_ids(ObjectKind.BLOCK, repo))


def _head(app: App, repo: str) -> str:
    with app.deps.uow() as uow:
        library = uow.libraries.get(repo)
    assert library is not None
    return library.head


def _big_blocks(app: App, repo: str, path: str) -> tuple[str, ...]:
    objects = LibraryObjects(app.deps.objects, repo)
    entry = tree.lookup(objects, objects.load_commit(_head(app, repo)).root_id, path)
    assert entry is not None
    return objects.load_file(entry.id).block_ids


def _ids(app: App, headers: Headers, repo: str) -> dict[str, str]:
    listing = app.client.get(f"/api/v1/repos/{repo}/dir", params={"p": "/"}, headers=headers)
    return {entry["name"]: entry["id"] for entry in listing.json()}


def test_plain_to_plain_copies_every_block_into_the_destination(app: App) -> None:
    alice = app.login(ALICE)
    src, dst = _library(app, alice, "src"), _library(app, alice, "dst")
    _seed(app, alice, src)
    src_blocks = _blocks(app, src)
    assert len(_big_blocks(app, src, "/tree/big.bin")) >= 2

    response = _transfer(app, alice, "copy", src, dst)
    assert response.status_code == 204, response.text

    assert _files(app, alice, dst, "/tree") == EXPECTED
    assert _files(app, alice, src, "/tree") == EXPECTED
    assert _blocks(app, dst) == src_blocks  # same bytes, now in the destination's scope too
    assert _big_blocks(app, dst, "/tree/big.bin") == _big_blocks(app, src, "/tree/big.bin")
    commits = app.client.get(f"/api/v1/repos/{dst}/commits", headers=alice).json()
    assert '"tree" from library "src"' in commits[0]["description"]
    assert fsck(app.deps).ok


def test_move_removes_the_source_after_the_copy(app: App) -> None:
    alice = app.login(ALICE)
    src, dst = _library(app, alice, "src"), _library(app, alice, "dst")
    _seed(app, alice, src)
    app.client.post(f"/api/v1/repos/{dst}/dir", params={"p": "/in"}, headers=alice)

    response = _transfer(app, alice, "move", src, dst, dst_dir="/in", new_name="moved")
    assert response.status_code == 204, response.text

    assert _files(app, alice, dst, "/in/moved") == EXPECTED
    root = app.client.get(f"/api/v1/repos/{src}/dir", params={"p": "/"}, headers=alice)
    assert root.json() == []
    gone = app.client.get(f"/api/v1/repos/{src}/file", params={"p": "/tree/a.txt"},
                          headers=alice)
    assert gone.status_code == 404
    trash = app.client.get(f"/api/v1/repos/{src}/trash", headers=alice)
    assert trash.status_code == 200  # restorable in the source
    assert "tree" in trash.text
    assert fsck(app.deps).ok


def _stored(app: App, repo: str, block_id: str) -> bytes:
    return app.deps.objects.get(ObjectKind.BLOCK, repo, block_id)


@pytest.mark.parametrize(("src_password", "dst_password"), [
    (None, "dst secret"), ("src secret", None), ("src secret", "dst secret")],
    ids=["plain-to-encrypted", "encrypted-to-plain", "encrypted-to-encrypted"])
def test_encrypted_sides_are_re_encrypted_with_the_destination_key(
        app: App, src_password: str | None, dst_password: str | None) -> None:
    alice = app.login(ALICE)
    src = _library(app, alice, "src", src_password)
    dst = _library(app, alice, "dst", dst_password)
    _seed(app, alice, src)

    response = _transfer(app, alice, "copy", src, dst)
    assert response.status_code == 204, response.text
    assert _files(app, alice, dst, "/tree") == EXPECTED
    # and back again: the round trip gives the same bytes
    back = app.client.post(f"/api/v1/repos/{dst}/copy", json={
        "path": "/tree", "dst_dir": "/", "dst_repo": src, "new_name": "returned"},
        headers=alice)
    assert back.status_code == 204, back.text
    assert _files(app, alice, src, "/returned") == EXPECTED

    assert _ids(app, alice, src)["returned"] == _ids(app, alice, src)["tree"]

    keys = [_key(app, repo, password) if password else None
            for repo, password in ((src, src_password), (dst, dst_password))]
    assert _blocks(app, src).isdisjoint(_blocks(app, dst))
    src_big, dst_big = (_big_blocks(app, repo, "/tree/big.bin") for repo in (src, dst))
    assert len(src_big) == len(dst_big) >= 2
    plain = bytearray()
    for src_id, dst_id in zip(src_big, dst_big, strict=True):
        stored = [_stored(app, src, src_id), _stored(app, dst, dst_id)]
        assert codec.sha1_hex(stored[1]) == dst_id
        assert stored[0] != stored[1]  # not the source's ciphertext (or plaintext)
        chunks = [crypto.decrypt_block(key, data) if key else data
                  for key, data in zip(keys, stored, strict=True)]
        assert chunks[0] == chunks[1]  # same chunk boundaries: blocks are not re-chunked
        if keys[1] is not None:
            assert stored[1][:64] not in BIG
        plain += chunks[1]
    assert plain == BIG
    assert fsck(app.deps).ok


def _key(app: App, repo: str, password: str) -> crypto.FileKey:
    with app.deps.uow() as uow:
        library = uow.libraries.get(repo)
    assert library is not None
    assert library.encryption is not None
    return crypto.unlock(repo, password, library.encryption)


def test_a_locked_side_answers_440_and_changes_nothing(app: App) -> None:
    alice = app.login(ALICE)
    plain = _library(app, alice, "plain")
    _seed(app, alice, plain)
    vault = _library(app, alice, "vault", "vault secret")
    _put(app, alice, vault, "/tree/v.txt", b"in the vault")
    other = app.login(ALICE)  # a second session: nothing unlocked
    heads = {repo: _head(app, repo) for repo in (plain, vault)}

    for op in ("copy", "move"):
        into_locked = _transfer(app, other, op, plain, vault)
        assert into_locked.status_code == 440, into_locked.text
        from_locked = _transfer(app, other, op, vault, plain)
        assert from_locked.status_code == 440, from_locked.text
        seafile = app.client.post(f"/api2/repos/{plain}/file/", params={"p": "/tree"},
                                  data={"operation": op, "dst_repo": vault, "dst_dir": "/"},
                                  headers=other)
        assert seafile.status_code == 440, seafile.text
    assert {repo: _head(app, repo) for repo in (plain, vault)} == heads

    _unlock(app, other, vault, "vault secret")
    done = _transfer(app, other, "copy", plain, vault, new_name="now")
    assert done.status_code == 204, done.text


def test_other_users_libraries_are_refused_both_ways(app: App) -> None:
    alice, bob = app.login(ALICE), app.login(BOB)
    mine = _library(app, alice, "mine")
    _seed(app, alice, mine)
    theirs = _library(app, bob, "theirs")
    _put(app, bob, theirs, "/tree/secret.txt", b"bob's secret")
    heads = {repo: _head(app, repo) for repo in (mine, theirs)}

    for op in ("copy", "move"):
        no_write = _transfer(app, alice, op, mine, theirs)
        assert no_write.status_code == 403, no_write.text
        no_read = _transfer(app, alice, op, theirs, mine)
        assert no_read.status_code in (403, 404), no_read.text
        seafile = app.client.post(f"/api2/repos/{mine}/file/", params={"p": "/tree/a.txt"},
                                  data={"operation": op, "dst_repo": theirs, "dst_dir": "/"},
                                  headers=alice)
        assert seafile.status_code == 403, seafile.text
    assert {repo: _head(app, repo) for repo in (mine, theirs)} == heads
    assert _blocks(app, theirs).isdisjoint(_blocks(app, mine))
    assert b"secret" not in b"".join(_files(app, alice, mine, "/").values())


def test_name_clashes_get_a_number_like_seafile(app: App) -> None:
    alice = app.login(ALICE)
    src, dst = _library(app, alice, "src"), _library(app, alice, "dst")
    _put(app, alice, src, "/a.txt", b"from src")
    _put(app, alice, src, "/docs/x.txt", b"x")
    _put(app, alice, dst, "/a.txt", b"already here")
    _put(app, alice, dst, "/docs/y.txt", b"y")

    for path in ("/a.txt", "/a.txt", "/docs"):
        response = app.client.post(f"/api/v1/repos/{src}/copy", json={
            "path": path, "dst_dir": "/", "dst_repo": dst}, headers=alice)
        assert response.status_code == 204, response.text
    names = {e["name"] for e in app.client.get(f"/api/v1/repos/{dst}/dir",
                                               params={"p": "/"}, headers=alice).json()}
    assert names == {"a.txt", "a (1).txt", "a (2).txt", "docs", "docs (1)"}
    files = _files(app, alice, dst, "/")
    assert files["/a.txt"] == b"already here"
    assert files["/a (1).txt"] == files["/a (2).txt"] == b"from src"
    assert files["/docs (1)/x.txt"] == b"x"
    assert "/docs/x.txt" not in files


def test_seafile_file_operation_copies_and_moves_into_another_library(app: App) -> None:
    alice = app.login(ALICE)
    src, dst = _library(app, alice, "src"), _library(app, alice, "dst", "dst secret")
    _seed(app, alice, src)
    app.client.post(f"/api/v1/repos/{dst}/dir", params={"p": "/target"}, headers=alice)

    for op, path in (("copy", "/tree/a.txt"), ("move", "/tree/sub")):
        response = app.client.post(f"/api2/repos/{src}/file/", params={"p": path}, data={
            "operation": op, "dst_repo": dst, "dst_dir": "/target"}, headers=alice)
        assert response.status_code == 200, response.text
        assert response.json() == "success"
    copied = _files(app, alice, dst, "/target")
    assert copied == {"/a.txt": b"alpha\n", "/sub/": b"", "/sub/b.txt": TREE["/tree/sub/b.txt"],
                      "/sub/a again.txt": b"alpha\n", "/sub/deeper/": b"",
                      "/sub/deeper/c.md": b"# gamma\n"}
    left = {e["name"] for e in app.client.get(f"/api/v1/repos/{src}/dir",
                                              params={"p": "/tree"}, headers=alice).json()}
    assert left == {"a.txt", "big.bin", "empty.txt", "nothing"}
    missing = app.client.post(f"/api2/repos/{src}/file/", params={"p": "/tree/nope"}, data={
        "operation": "copy", "dst_repo": dst, "dst_dir": "/target"}, headers=alice)
    assert missing.status_code == 404, missing.text
    no_folder = app.client.post(f"/api2/repos/{src}/file/", params={"p": "/tree/a.txt"}, data={
        "operation": "copy", "dst_repo": dst, "dst_dir": "/absent"}, headers=alice)
    assert no_folder.status_code == 404, no_folder.text
    bad_id = app.client.post(f"/api/v1/repos/{src}/copy", json={
        "path": "/tree", "dst_dir": "/", "dst_repo": 7}, headers=alice)
    assert bad_id.status_code == 400, bad_id.text
