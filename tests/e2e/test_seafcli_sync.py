"""End-to-end sync with the real seaf-cli/seaf-daemon 8.0.10 against a real `sesame serve`."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.plugins.seafcli import (
    Entry,
    SeafClient,
    SyncEnv,
    diff_snapshots,
    expected_entries,
    fixture_snapshot,
    snapshot,
    wait_until,
    write_fixture_tree,
)
from tests.plugins.server import SEAFILE_FIXTURES

pytestmark = pytest.mark.seafcli

MANIFEST = json.loads((SEAFILE_FIXTURES / "manifest.json").read_text())
PLAIN = MANIFEST["libraries"]["plain"]
LIB_PASSWORD = "fixture-password-1"
CONFLICT_RE = re.compile(r"^shared \(SFConflict .+\)\.txt$")


def _empty(worktree: Path) -> None:
    assert snapshot(worktree) == {}, f"fresh clone of an empty library is not empty: {worktree}"


def test_fixture_tree_roundtrip_matches_client_ids(seaf_env: SyncEnv) -> None:
    """(a) create, list-remote, clone on A, upload the fixture tree, clone on B; ids match."""
    fixture_roundtrip(seaf_env)


def fixture_roundtrip(env: SyncEnv) -> None:
    """Upload the captured fixture tree with one client, check ids, clone it with another."""
    a, b = env.new_client("A"), env.new_client("B")

    repo_id = env.create(a, "fixture-plain")
    assert re.fullmatch(r"[0-9a-f-]{36}", repo_id), f"create printed {repo_id!r}"
    remote = a.list_remote(env.url, env.user, env.password)
    assert {"id": repo_id, "name": "fixture-plain"} in remote, remote

    wt_a = env.clone(a, repo_id)
    _empty(wt_a)
    head_before = a.repo(repo_id)["head"]  # type: ignore[index]
    write_fixture_tree(wt_a)

    wait_until(
        lambda: env.server_root(repo_id) == PLAIN["root_id"],
        180,
        f"server HEAD root == fixture root {PLAIN['root_id']}",
        lambda: f"server root {env.server_root(repo_id)}\n{a.describe()}",
    )
    env.wait_uploaded(a, repo_id, since=head_before)

    rt = env.rtoken(repo_id)
    head = env.api.head(repo_id, rt)
    commit = env.api.commit(repo_id, rt, head)
    assert commit["root_id"] == PLAIN["root_id"]
    assert commit["repo_id"] == repo_id
    assert commit["creator_name"] == env.user
    fs_ids = env.api.fs_id_list(repo_id, rt, head)
    assert len(fs_ids) == len(set(fs_ids)), "fs-id-list repeats ids"
    assert set(fs_ids) == set(PLAIN["fs_objects"]), (
        f"extra {set(fs_ids) - set(PLAIN['fs_objects'])},"
        f" missing {set(PLAIN['fs_objects']) - set(fs_ids)}"
    )
    assert env.api.check_fs(repo_id, rt, sorted(PLAIN["fs_objects"])) == []
    assert env.api.check_blocks(repo_id, rt, sorted(PLAIN["blocks"])) == []
    # The stored fs objects are the client's bytes: sha1(decompressed) == id.
    packed = env.api.pack_fs(repo_id, rt, sorted(PLAIN["fs_objects"]))
    for oid, raw in packed.items():
        want = (SEAFILE_FIXTURES / "plain" / "fs" / f"{oid}.json").read_bytes()
        assert raw == want, f"fs object {oid} differs from the client's bytes"

    wt_b = env.clone(b, repo_id)
    b.wait_tree(wt_b, fixture_snapshot(), timeout=120)
    got = snapshot(wt_b)
    assert got["run.sh"].mode & 0o111, "run.sh lost its executable bit"
    assert got["emptydir"] == Entry("dir")
    assert diff_snapshots(snapshot(wt_a), got) == "", "A and B worktrees differ"


INITIAL = {
    "hello.txt": b"hello v1\n",
    "keep.txt": b"keep me\n",
    "docs/a.txt": b"doc a\n",
    "docs/sub/b.txt": b"doc b\n" * 100,
    "run.sh": b"#!/bin/sh\necho run\n",
}


def _write(root: Path, files: dict[str, bytes], modes: dict[str, int] | None = None) -> None:
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        os.chmod(p, (modes or {}).get(rel, 0o644))


def test_add_edit_delete_rename_and_server_put_propagate(seaf_env: SyncEnv) -> None:
    """(b) changes on A appear on B; a file PUT through /api/v1 appears on A and B."""
    env = seaf_env
    a, b = env.new_client("A"), env.new_client("B")
    repo_id = env.create(a, "changes")
    wt_a = env.clone(a, repo_id)
    wt_b = env.clone(b, repo_id)
    _empty(wt_a)
    _empty(wt_b)

    modes = {"run.sh": 0o755}
    _write(wt_a, INITIAL, modes)
    want = expected_entries(INITIAL, modes)
    b.wait_tree(wt_b, want)

    # One batch of every kind of change.
    (wt_a / "new").mkdir()
    (wt_a / "new" / "c.txt").write_bytes(b"brand new file\n")
    (wt_a / "hello.txt").write_bytes(b"hello v2, now longer\n")
    (wt_a / "docs" / "a.txt").unlink()
    os.rename(wt_a / "keep.txt", wt_a / "renamed.txt")
    os.rename(wt_a / "docs" / "sub", wt_a / "docs" / "sub2")
    files = {
        "hello.txt": b"hello v2, now longer\n",
        "renamed.txt": b"keep me\n",
        "docs/sub2/b.txt": b"doc b\n" * 100,
        "run.sh": b"#!/bin/sh\necho run\n",
        "new/c.txt": b"brand new file\n",
    }
    want = expected_entries(files, modes)
    assert diff_snapshots(snapshot(wt_a), want) == ""
    b.wait_tree(wt_b, want)

    # A change made through the service layer (web API) reaches both clients.
    token = env.token()
    head_before = env.server_head(repo_id)
    r = env.api.put_file(token, repo_id, "/server/made.txt", b"made on the server\n")
    assert r.status_code in (200, 201), f"PUT /api/v1 file: {r.status_code} {r.text}"
    r = env.api.put_file(token, repo_id, "/hello.txt", b"hello v3 from the server\n")
    assert r.status_code in (200, 201), f"PUT /api/v1 file: {r.status_code} {r.text}"
    assert env.server_head(repo_id) != head_before, "server PUT did not create a commit"
    files["server/made.txt"] = b"made on the server\n"
    files["hello.txt"] = b"hello v3 from the server\n"
    want = expected_entries(files, modes)
    a.wait_tree(wt_a, want)
    b.wait_tree(wt_b, want)
    # Neither client turned the server's change into a conflict.
    assert not [p for p in snapshot(wt_a) if "SFConflict" in p]


def _conflict_state(worktree: Path) -> tuple[bytes, list[tuple[str, bytes]]]:
    main = (worktree / "shared.txt").read_bytes()
    copies = [
        (p.name, p.read_bytes()) for p in worktree.iterdir() if "SFConflict" in p.name
    ]
    return main, copies


def test_concurrent_edits_produce_one_conflict_copy(seaf_env: SyncEnv) -> None:
    """(c) A and B edit the same file; both end with it plus exactly one SFConflict copy."""
    env = seaf_env
    a, b = env.new_client("A"), env.new_client("B")
    repo_id = env.create(a, "conflicts")
    wt_a = env.clone(a, repo_id)
    wt_b = env.clone(b, repo_id)
    (wt_a / "shared.txt").write_bytes(b"base version\n")
    (wt_a / "other.txt").write_bytes(b"unrelated\n")
    base = expected_entries({"shared.txt": b"base version\n", "other.txt": b"unrelated\n"})
    b.wait_tree(wt_b, base)

    b.stop()
    head_a = a.repo(repo_id)["head"]  # type: ignore[index]
    version_a = b"edited on A\n" * 3
    version_b = b"edited on B, a different length\n"
    (wt_a / "shared.txt").write_bytes(version_a)
    env.wait_uploaded(a, repo_id, since=head_a)
    (wt_b / "shared.txt").write_bytes(version_b)
    b.start()

    def converged(client: SeafClient, wt: Path) -> bool:
        main, copies = _conflict_state(wt)
        if len(copies) != 1:
            return False
        return sorted([main, copies[0][1]]) == sorted([version_a, version_b])

    for client, wt in ((b, wt_b), (a, wt_a)):
        wait_until(
            lambda c=client, w=wt: converged(c, w),  # type: ignore[misc]
            180,
            f"one conflict copy on {client.name}",
            lambda w=wt, c=client: f"{_conflict_state(w)}\n{c.describe()}",  # type: ignore[misc]
        )
    for wt in (wt_a, wt_b):
        _, copies = _conflict_state(wt)
        assert len(copies) == 1, copies
        assert CONFLICT_RE.match(copies[0][0]), f"conflict name {copies[0][0]!r}"
        assert (wt / "other.txt").read_bytes() == b"unrelated\n"
    wait_until(
        lambda: diff_snapshots(snapshot(wt_a), snapshot(wt_b)) == "",
        120,
        "A and B to hold the same tree",
        lambda: diff_snapshots(snapshot(wt_a), snapshot(wt_b)),
    )


def _plaintext_needles() -> dict[str, bytes]:
    """Distinctive plaintext of every non-empty fixture file (and windows of big.bin)."""
    needles: dict[str, bytes] = {}
    for f in MANIFEST["source_tree"]["files"]:
        content = f["content"]
        if isinstance(content, dict) and content.get("utf8_text"):
            needles[f["path"]] = content["utf8_text"].encode()
    big = SEAFILE_FIXTURES / "fixture_tree.py"
    size = MANIFEST["source_tree"]["big_file_recipe"]["size"]
    for off in (0, 4096 * 7 + 3, size // 2, size - 64):
        window = subprocess.run(
            ["/usr/bin/python3", str(big), "big-slice", str(off), "64"],
            capture_output=True, check=True, timeout=60,
        ).stdout
        assert len(window) == 64
        needles[f"/big.bin@{off}"] = window
    return needles


def _scan_for(paths: list[Path], needles: dict[str, bytes]) -> list[str]:
    hits = []
    for path in paths:
        data = path.read_bytes()
        for what, needle in needles.items():
            if needle in data:
                hits.append(f"{what} found in {path}")
    return hits


def _pg_dump(database_url: str, dest: Path) -> Path:
    url = re.sub(r"^postgresql\+\w+://", "postgresql://", database_url)
    out = dest / "pg_dump.sql"
    with open(out, "wb") as f:
        subprocess.run(["pg_dump", "--no-owner", url], stdout=f, check=True, timeout=120)
    return out


def test_encrypted_library_roundtrip_and_no_plaintext_on_server(
    seaf_env: SyncEnv, tmp_path: Path
) -> None:
    """(d) enc v2 library: right password syncs, wrong one is refused, no plaintext stored."""
    env = seaf_env
    a, b = env.new_client("A"), env.new_client("B")
    repo_id = env.create(a, "fixture-enc", libpasswd=LIB_PASSWORD)
    info = env.api.download_info(env.token(), repo_id)
    assert info["encrypted"] in (1, True, "1"), info
    assert info["enc_version"] == 2, info
    assert re.fullmatch(r"[0-9a-f]{64}", info["magic"]), info
    assert re.fullmatch(r"[0-9a-f]{96}", info["random_key"]), info
    assert info["repo_version"] == 1, info

    wt_a = env.clone(a, repo_id, libpasswd=LIB_PASSWORD)
    head_before = a.repo(repo_id)["head"]  # type: ignore[index]
    write_fixture_tree(wt_a)
    env.wait_uploaded(a, repo_id, since=head_before)
    # Let A settle on the final tree (a partial commit may have gone first).
    wait_until(
        lambda: (r := a.repo(repo_id)) is not None
        and r["state"] == "synchronized" and r["head"] == env.server_head(repo_id)
        and diff_snapshots(snapshot(wt_a), fixture_snapshot()) == "",
        60, "A synchronized with the whole fixture tree", a.describe,
    )
    tree = env.api.tree(repo_id, env.rtoken(repo_id))
    big_blocks = tree["/big.bin"]["block_ids"]
    plain_big = PLAIN["paths"]["/big.bin"]["block_ids"]
    assert big_blocks, tree["/big.bin"]
    assert not set(big_blocks) & set(plain_big), "big.bin blocks are the plaintext ids"

    # Wrong password: refused by the client before anything is synced.
    res = b.download(repo_id, env.url, env.user, env.password, libpasswd="wrong-password",
                     check=False)
    out = (res.stdout + res.stderr).lower()
    assert res.returncode != 0, f"download with a wrong password succeeded: {out}"
    assert "incorrect password" in out, out
    assert all(r["id"] != repo_id for r in b.state()["repos"]), "wrong password got a repo"

    wt_b = env.clone(b, repo_id, libpasswd=LIB_PASSWORD)
    b.wait_tree(wt_b, fixture_snapshot(), timeout=120)

    needles = _plaintext_needles()
    needles["library password"] = LIB_PASSWORD.encode()
    paths = env.server.data_files()
    assert paths, "server data dir is empty"
    hits = _scan_for(paths, needles)
    if env.server.database_url is not None:
        hits += _scan_for([_pg_dump(env.server.database_url, tmp_path)], needles)
    assert not hits, "plaintext on the server:\n" + "\n".join(hits)


def test_library_deleted_on_server_is_unsynced_and_files_stay(seaf_env: SyncEnv) -> None:
    """(g) DELETE /api2/repos/<id>/ makes A's daemon drop the library; local files remain."""
    env = seaf_env
    a = env.new_client("A")
    repo_id = env.create(a, "doomed")
    wt_a = env.clone(a, repo_id)
    head_before = a.repo(repo_id)["head"]  # type: ignore[index]
    (wt_a / "precious.txt").write_bytes(b"do not lose me\n")
    env.wait_uploaded(a, repo_id, since=head_before)

    token = env.token()
    r = env.api.delete_repo(token, repo_id)
    assert r.status_code in (200, 204), f"DELETE repo: {r.status_code} {r.text}"
    assert all(x["id"] != repo_id for x in env.api.list_repos(token))
    r = env.api.http.get(f"/api2/repos/{repo_id}/download-info/",
                         headers={"Authorization": f"Token {token}"})
    assert r.status_code == 404, f"download-info of a deleted library: {r.status_code} {r.text}"

    wait_until(
        lambda: all(x["id"] != repo_id for x in a.list_local()),
        150, "A to unsync the deleted library", a.describe,
    )
    assert (wt_a / "precious.txt").read_bytes() == b"do not lose me\n"
    assert a.daemon_alive(), "the daemon died after the library was deleted"
    log = (a.conf / "logs" / "seafile.log").read_text(errors="replace")
    assert "Library deleted on server" in log, "unsynced for another reason than a 444"


def test_sync_existing_folder_then_desync(seaf_env: SyncEnv) -> None:
    """`seaf-cli sync` uploads a pre-populated folder; `desync` detaches it, files stay."""
    env = seaf_env
    a, b = env.new_client("A"), env.new_client("B")
    repo_id = env.create(a, "existing-folder")
    folder = a.root / "my-folder"
    files = {"notes.txt": b"pre-existing notes\n", "deep/er/file.bin": bytes(range(256)) * 40}
    _write(folder, files)
    server_head = env.server_head(repo_id)
    a.sync(repo_id, folder, env.url, env.user, env.password)
    wait_until(
        lambda: env.server_head(repo_id) != server_head
        and (r := a.repo(repo_id)) is not None and r["state"] == "synchronized"
        and r["head"] == env.server_head(repo_id),
        180, "A to upload the pre-populated folder", a.describe,
    )
    assert Path(a.repo(repo_id)["worktree"]) == folder  # type: ignore[index]
    wt_b = env.clone(b, repo_id)
    b.wait_tree(wt_b, expected_entries(files))
    assert "existing-folder" in a.status()

    a.desync(folder)
    wait_until(lambda: all(x["id"] != repo_id for x in a.list_local()), 30, "desync", a.describe)
    assert diff_snapshots(snapshot(folder), expected_entries(files)) == ""
