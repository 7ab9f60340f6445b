"""The sync protocol through the real ASGI app: fixture upload, merge, deletion, clone."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from sesamedisk.domain import codec, crypto
from sesamedisk.domain.objects import MODE_FILE, Dirent, DirObject, EncryptionInfo, FileObject
from sesamedisk.domain.pack import iter_pack
from tests.integration.sync_driver import SyncDriver, record
from tests.plugins.app import App
from tests.seafile_fixtures import FIXTURES, MANIFEST, fixture_tree

ALICE = "alice@example.com"


def _driver(app: App, headers: dict[str, str], repo_id: str) -> SyncDriver:
    info = app.client.get(f"/api2/repos/{repo_id}/download-info/", headers=headers).json()
    assert info["repo_version"] == 1
    return SyncDriver(client=app.client, repo_id=repo_id, token=info["token"], email=info["email"])


def _fixture_blocks() -> dict[str, bytes]:
    tree = fixture_tree()
    blocks = {p.name: p.read_bytes() for p in (FIXTURES / "plain" / "blocks").iterdir()}
    big = tree.big_bytes()
    blocks[codec.sha1_hex(big[:10485760])] = big[:10485760]
    blocks[codec.sha1_hex(big[10485760:])] = big[10485760:]
    return blocks


def _upload_fixture(app: App) -> tuple[SyncDriver, str, str]:
    headers = app.login(ALICE)
    info = app.create_library(headers)
    driver = _driver(app, headers, str(info["repo_id"]))
    initial = driver.head()
    body = (FIXTURES / "plain" / "recv-fs-request-body.bin").read_bytes()
    plain: dict[str, Any] = MANIFEST["libraries"]["plain"]
    cid = driver.upload(plain["root_id"], initial, list(iter_pack(body)), _fixture_blocks())
    return driver, initial, cid


def test_fixture_tree_upload_keeps_client_ids_and_clones_back(app: App) -> None:
    driver, initial, cid = _upload_fixture(app)
    plain: dict[str, Any] = MANIFEST["libraries"]["plain"]
    assert driver.head() == cid
    assert driver.commit(cid).root_id == plain["root_id"]
    expected_fs = ({p["fs_id"] for p in plain["paths"].values()} | {plain["root_id"]}) - {"0" * 40}
    assert set(driver.fs_ids(cid)) == expected_fs
    assert driver.fs_ids(initial) == []
    pack = app.client.post(driver.url("pack-fs/"), content=json.dumps(sorted(expected_fs)),
                           headers=driver.headers)
    stored = dict(iter_pack(pack.content))
    for fs_id in expected_fs:
        assert stored[fs_id] == (FIXTURES / "plain" / "fs" / fs_id).read_bytes()
    for block_id, data in _fixture_blocks().items():
        assert driver.block(block_id) == data
    headers = app.login(ALICE)
    got = app.client.get(f"/api/v1/repos/{driver.repo_id}/file?p=/docs/nested/deep.txt",
                         headers=headers)
    assert got.content == fixture_tree().TEXT_FILES["docs/nested/deep.txt"]


def test_incremental_fs_id_list_names_only_new_objects(app: App) -> None:
    driver, _, cid = _upload_fixture(app)
    headers = app.login(ALICE)
    url = f"/api/v1/repos/{driver.repo_id}/file?p=/docs/new.txt"
    assert app.client.put(url, content=b"fresh", headers=headers).status_code == 201
    new_head = driver.head()
    commit = driver.commit(new_head)
    assert commit.parent_id == cid
    changed = set(driver.fs_ids(new_head, cid))
    assert commit.root_id in changed
    assert "c61727da194ab6e1e6474febe4696573a927e4ba" not in changed  # old /docs
    assert "496fefe27fe09cf2e9841dce428e055553984033" not in changed  # unchanged /docs/nested
    assert len(changed) == 3  # new root, new /docs, new file


def _single_file_tree(name: str, content: bytes, email: str) -> tuple[str, list[Any], dict]:
    block_id = codec.sha1_hex(content)
    file_id, file_raw = record(FileObject(block_ids=(block_id,), size=len(content)))
    root = DirObject.of([Dirent(id=file_id, mode=MODE_FILE, mtime=1700000000, name=name,
                                modifier=email, size=len(content))])
    root_id, root_raw = record(root)
    return root_id, [(root_id, root_raw), (file_id, file_raw)], {block_id: content}


def test_concurrent_edits_are_merged_with_a_conflict_copy(app: App) -> None:
    headers = app.login(ALICE)
    info = app.create_library(headers)
    first = _driver(app, headers, str(info["repo_id"]))
    second = _driver(app, headers, str(info["repo_id"]))
    base_root, base_fs, base_blocks = _single_file_tree("hello.txt", b"base\n", ALICE)
    base = first.upload(base_root, first.head(), base_fs, base_blocks)
    root_a, fs_a, blocks_a = _single_file_tree("hello.txt", b"version A\n", ALICE)
    root_b, fs_b, blocks_b = _single_file_tree("hello.txt", b"version B\n", ALICE)
    commit_a = first.upload(root_a, base, fs_a, blocks_a)
    commit_b = second.upload(root_b, base, fs_b, blocks_b)
    head = second.head()
    merge = second.commit(head)
    assert merge.parent_id == commit_a
    assert merge.second_parent_id == commit_b
    assert merge.new_merge
    assert merge.conflict
    assert merge.description == "Auto merge by system"
    listing = app.client.get(f"/api/v1/repos/{info['repo_id']}/dir?p=/", headers=headers).json()
    names = sorted(entry["name"] for entry in listing)
    assert re.fullmatch(r"hello \(SFConflict alice@example\.com "
                        r"\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d\)\.txt", names[0])
    assert names[1] == "hello.txt"
    contents = {name: app.client.get(f"/api/v1/repos/{info['repo_id']}/file?p=/{name}",
                                     headers=headers).content for name in names}
    assert contents == {names[0]: b"version B\n", "hello.txt": b"version A\n"}


def test_deleted_library_answers_444_to_sync_clients(app: App) -> None:
    headers = app.login(ALICE)
    info = app.create_library(headers)
    driver = _driver(app, headers, str(info["repo_id"]))
    response = app.client.post("/seafhttp/repo/head-commits-multi/",
                               content=json.dumps([driver.repo_id]))
    assert response.json() == {driver.repo_id: driver.head()}
    assert app.client.delete(f"/api2/repos/{driver.repo_id}/", headers=headers).json() \
        == "success"
    assert app.client.get(driver.url("commit/HEAD"), headers=driver.headers).status_code == 444
    response = app.client.post("/seafhttp/repo/head-commits-multi/",
                               content=json.dumps([driver.repo_id]))
    assert response.json() == {}
    assert all(r["id"] != driver.repo_id
               for r in app.client.get("/api2/repos/", headers=headers).json())


def test_encrypted_library_parameters_verify_with_the_password(app: App) -> None:
    headers = app.login(ALICE)
    info = app.create_library(headers, passwd="s3cret-pass")
    assert info["encrypted"] == 1
    assert info["enc_version"] == 2
    enc = EncryptionInfo(enc_version=2, magic=str(info["magic"]),
                               random_key=str(info["random_key"]))
    assert crypto.verify_password(str(info["repo_id"]), "s3cret-pass", enc)
    assert not crypto.verify_password(str(info["repo_id"]), "wrong-pass", enc)
    driver = _driver(app, headers, str(info["repo_id"]))
    head = driver.commit(driver.head())
    assert head.encryption == enc


def test_data_folder_holds_no_password(app: App) -> None:
    headers = app.login(ALICE)
    app.create_library(headers, passwd="unique-password-9f8e7d")
    for path in Path(app.data).rglob("*"):
        if path.is_file():
            assert b"unique-password-9f8e7d" not in path.read_bytes(), path
