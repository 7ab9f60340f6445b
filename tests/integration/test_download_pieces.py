"""Downloads of checked blocks read from their files piece by piece: exact bytes, no leaks."""

from __future__ import annotations

import os
import random
import time
from typing import Any

from sesamedisk.ports.objects import ObjectKind, PieceReads
from sesamedisk.services.library_objects import LibraryObjects
from tests.plugins.app import App

ALICE = "alice@example.com"
DATA = random.Random(31).randbytes(14 * 1024 * 1024)


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _upload(app: App) -> tuple[dict[str, str], str, Any]:
    alice = app.login(ALICE)
    repo = str(app.create_library(alice)["repo_id"])
    response = app.client.put(f"/api/v1/repos/{repo}/file", params={"p": "/f.bin"},
                              content=DATA, headers=alice)
    assert response.status_code == 201, response.text
    return alice, repo, response.json()


def _blocks(app: App, repo: str, file_id: str) -> list[str]:
    return list(LibraryObjects(app.deps.objects, repo).load_file(file_id).block_ids)


def test_whole_and_ranged_downloads_are_exact_and_close_every_file(app: App) -> None:
    assert isinstance(app.deps.objects, PieceReads), "the default store offers pieces"
    alice, repo, dirent = _upload(app)
    assert len(_blocks(app, repo, dirent["id"])) > 2
    fds = _open_fds()
    for _ in range(2):  # the blocks were checked when stored: both come from their files
        whole = app.client.get(f"/api/v1/repos/{repo}/file", params={"p": "/f.bin"},
                               headers=alice)
        assert whole.status_code == 200
        assert whole.content == DATA
    for start, end in ((0, 0), (5, 6 * 1024 * 1024), (len(DATA) - 7, len(DATA) - 1)):
        part = app.client.get(f"/api/v1/repos/{repo}/file", params={"p": "/f.bin"},
                              headers={**alice, "Range": f"bytes={start}-{end}"})
        assert part.status_code == 206
        assert part.content == DATA[start:end + 1]
    commits = app.client.get(f"/api/v1/repos/{repo}/commits", headers=alice).json()
    old = app.client.get(f"/api/v1/repos/{repo}/commits/{commits[0]['id']}/file",
                         params={"p": "/f.bin"}, headers=alice)
    assert old.content == DATA
    assert _open_fds() == fds


def test_a_block_link_answers_head_and_get_with_one_lookup_and_no_leak(app: App) -> None:
    alice, repo, dirent = _upload(app)
    block_id = _blocks(app, repo, dirent["id"])[1]
    expected = app.deps.objects.get(ObjectKind.BLOCK, repo, block_id)
    fds = _open_fds()
    for method in ("HEAD", "GET"):
        link = app.client.get(
            f"/api2/repos/{repo}/files/{dirent['id']}/blks/{block_id}/download-link/",
            headers=alice)
        url = "/" + link.json().split("/", 3)[3]
        got = app.client.request(method, url)
        assert got.status_code == 200, got.text
        assert got.headers["content-length"] == str(len(expected))
        assert got.content == (expected if method == "GET" else b"")
    assert _open_fds() == fds


def test_a_block_changed_on_disk_is_never_sent(app: App) -> None:
    alice, repo, dirent = _upload(app)
    block_id = _blocks(app, repo, dirent["id"])[0]
    path = next(app.data.rglob(block_id[2:]))
    good = path.read_bytes()
    path.write_bytes(bytes([good[0] ^ 1]) + good[1:])  # same size, new stamp
    past = time.time_ns() - 5_000_000_000
    os.utime(path, ns=(past, past))
    response = app.client.get(f"/api/v1/repos/{repo}/file", params={"p": "/f.bin"},
                              headers=alice)
    # The headers may be out before the block is read; the body then stops short of it.
    assert not response.content.startswith(bytes([good[0] ^ 1])), "no changed byte is sent"
    assert len(response.content) < len(DATA)
