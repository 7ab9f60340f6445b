"""Resumable uploads over the JSON API, on SQLite and PostgreSQL, with a real local store."""

from __future__ import annotations

import hashlib
import itertools
import random
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sesamedisk.domain import chunking, codec, crypto, paths, tree
from sesamedisk.domain.retention import GcPolicy
from sesamedisk.domain.uploads import Upload, UploadBlock
from sesamedisk.errors import Unavailable
from sesamedisk.ports.objects import ObjectKind
from sesamedisk.services import files, gc, libraries, uploads
from sesamedisk.services.library_objects import LibraryObjects
from tests.plugins.app import App

MiB = 1 << 20
CONTENT = random.Random(4).randbytes(22 * MiB)
"""Several FastCDC chunks (2/4/8 MiB), so that chunk requests end inside and across them."""
ALICE, BOB = "alice@example.com", "bob@example.com"


def _start(app: App, headers: dict[str, str], repo: str, path: str, size: int,
           **extra: Any) -> dict[str, Any]:
    response = app.client.post(f"/api/v1/repos/{repo}/uploads",
                                json={"path": path, "size": size, **extra}, headers=headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    assert body["received"] == 0 or size == 0
    return body


def _put(app: App, headers: dict[str, str], upload_id: str, data: bytes, first: int,  # noqa: PLR0917
         size: int, *, sha: str | None = None) -> Any:
    extra = {"Content-Range": f"bytes {first}-{first + len(data) - 1}/{size}"}
    if sha is not None:
        extra["X-Chunk-SHA256"] = sha
    return app.client.put(f"/api/v1/uploads/{upload_id}", content=data,
                          headers={**headers, **extra})


def _upload(app: App, headers: dict[str, str], repo: str, path: str, data: bytes,  # noqa: PLR0917
            cuts: list[int], **extra: Any) -> dict[str, Any]:
    """Upload `data` in the pieces `cuts` delimits; the final answer's body."""
    upload = _start(app, headers, repo, path, len(data), **extra)
    bounds = [0, *sorted(set(cuts) - {0, len(data)}), len(data)]
    answer: dict[str, Any] = {}
    for first, end in itertools.pairwise(bounds):
        piece = data[first:end]
        response = _put(app, headers, upload["id"], piece, first, len(data),
                        sha=hashlib.sha256(piece).hexdigest())
        final = end == len(data)
        assert response.status_code == (201 if final else 200), response.text
        answer = response.json()
        assert answer["received"] == end
    return answer


def _download(app: App, headers: dict[str, str], repo: str, path: str) -> bytes:
    response = app.client.get(f"/api/v1/repos/{repo}/file", params={"p": path},
                              headers=headers)
    assert response.status_code == 200, response.text
    return response.content


def _block_ids(app: App, repo: str, path: str) -> list[str]:
    objects = LibraryObjects(app.deps.objects, repo)
    with app.deps.uow() as uow:
        library = uow.libraries.get(repo)
    assert library is not None
    dirent = tree.lookup(objects, objects.load_commit(library.head).root_id, path)
    assert dirent is not None
    return list(objects.load_file(dirent.id).block_ids)


@pytest.fixture
def alice(app: App) -> dict[str, str]:
    """Alice's auth headers."""
    return app.login(ALICE)


@pytest.fixture
def repo(app: App, alice: dict[str, str]) -> str:
    """A plain library of alice."""
    return str(app.create_library(alice, "big")["repo_id"])


def test_multi_chunk_upload_is_byte_identical(app: App, alice: dict[str, str],
                                              repo: str) -> None:
    answer = _upload(app, alice, repo, "/dir/movie.bin", CONTENT, [5 * MiB, 5 * MiB + 7,
                                                                   17 * MiB])
    assert answer["file"]["name"] == "movie.bin"
    assert answer["file"]["size"] == len(CONTENT)
    assert _download(app, alice, repo, "/dir/movie.bin") == CONTENT
    assert app.client.get(f"/api/v1/uploads/{answer.get('id', 'x')}",
                          headers=alice).status_code == 404


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cuts=st.lists(st.integers(min_value=1, max_value=len(CONTENT) - 1), max_size=6))
def test_block_ids_equal_a_one_shot_upload(app: App, alice: dict[str, str], repo: str,
                                           cuts: list[int]) -> None:
    """However the file is split into requests, its blocks are those of one FastCDC pass."""
    name = f"/split-{hashlib.sha1(repr(cuts).encode()).hexdigest()[:12]}.bin"
    _upload(app, alice, repo, name, CONTENT, cuts)
    expected = [codec.sha1_hex(chunk) for chunk in chunking.chunk_bytes(CONTENT)]
    assert _block_ids(app, repo, name) == expected


def test_session_survives_a_new_app_and_resumes_by_path(app: App, alice: dict[str, str],
                                                        repo: str) -> None:
    upload = _start(app, alice, repo, "/r.bin", len(CONTENT), mtime=1_700_000_000)
    assert _put(app, alice, upload["id"], CONTENT[:9 * MiB], 0, len(CONTENT)).status_code == 200
    found = app.client.get(f"/api/v1/repos/{repo}/uploads",
                           params={"p": "/r.bin", "size": len(CONTENT)}, headers=alice)
    assert found.status_code == 200
    assert found.json() == {"id": upload["id"], "path": "/r.bin", "size": len(CONTENT),
                            "received": 9 * MiB}
    other_size = app.client.get(f"/api/v1/repos/{repo}/uploads",
                                params={"p": "/r.bin", "size": 5}, headers=alice)
    assert other_size.status_code == 404
    fresh = app.login(ALICE)  # another session (browser reload) of the same user
    done = _put(app, fresh, upload["id"], CONTENT[9 * MiB:], 9 * MiB, len(CONTENT))
    assert done.status_code == 201, done.text
    assert done.json()["file"]["mtime"] == 1_700_000_000
    assert _download(app, alice, repo, "/r.bin") == CONTENT


def test_wrong_offset_is_409_with_received(app: App, alice: dict[str, str], repo: str) -> None:
    upload = _start(app, alice, repo, "/o.bin", 1000)
    assert _put(app, alice, upload["id"], b"a" * 100, 0, 1000).status_code == 200
    for first in (0, 50, 101, 500):
        response = _put(app, alice, upload["id"], b"b" * 100, first, 1000)
        assert response.status_code == 409
        assert response.json()["received"] == 100
        assert response.json()["error_msg"]


def test_bad_sha_is_400_and_changes_nothing(app: App, alice: dict[str, str], repo: str) -> None:
    data = random.Random(1).randbytes(3 * MiB)
    upload = _start(app, alice, repo, "/s.bin", len(data))
    assert _put(app, alice, upload["id"], data[:MiB], 0, len(data)).status_code == 200
    before = _session(app, upload["id"])
    bad = _put(app, alice, upload["id"], data[MiB:], MiB, len(data), sha="0" * 64)
    assert bad.status_code == 400
    assert "SHA-256" in bad.json()["error_msg"]
    assert _session(app, upload["id"]) == before
    assert app.client.get(f"/api/v1/uploads/{upload['id']}", headers=alice).json()[
        "received"] == MiB
    good = _put(app, alice, upload["id"], data[MiB:], MiB, len(data),
                sha=hashlib.sha256(data[MiB:]).hexdigest())
    assert good.status_code == 201, good.text
    assert _download(app, alice, repo, "/s.bin") == data


def _session(app: App, upload_id: str) -> tuple[Upload | None, list[UploadBlock]]:
    with app.deps.uow() as uow:
        return uow.uploads.get(upload_id), list(uow.uploads.blocks(upload_id))


@pytest.mark.parametrize(("header", "body"), [
    (None, b"x"), ("bytes 0-9/11", b"x" * 10), ("bytes 5-2/10", b""), ("items 0-9/10", b"x" * 10),
    ("bytes 0-10/10", b"x" * 11), ("bytes 0-9/10", b"x" * 9), ("bytes 0-9/10", b"x" * 11),
    ("bytes -1-9/10", b"x" * 10),
])
def test_malformed_ranges_are_400(app: App, alice: dict[str, str], repo: str,
                                  header: str | None, body: bytes) -> None:
    upload = _start(app, alice, repo, "/m.bin", 10)
    headers = dict(alice) if header is None else {**alice, "Content-Range": header}
    response = app.client.put(f"/api/v1/uploads/{upload['id']}", content=body, headers=headers)
    assert response.status_code == 400, response.text
    assert _session(app, upload["id"])[0] is not None
    assert app.client.get(f"/api/v1/uploads/{upload['id']}", headers=alice).json()[
        "received"] == 0


def test_bad_start_requests_are_400(app: App, alice: dict[str, str], repo: str) -> None:
    for body in ({"path": "/", "size": 1}, {"path": "/a", "size": -1}, {"path": "/a"},
                 {"path": "/a", "size": "1"}, {"path": "/a", "size": 1, "replace": "yes"},
                 {"path": "/a/", "size": 1, "mtime": -5}, [1]):
        response = app.client.post(f"/api/v1/repos/{repo}/uploads", json=body, headers=alice)
        assert response.status_code == 400, (body, response.text)


def test_other_users_cannot_see_or_touch_a_session(app: App, alice: dict[str, str],
                                                   repo: str) -> None:
    upload = _start(app, alice, repo, "/p.bin", 10)
    bob = app.login(BOB)
    url = f"/api/v1/uploads/{upload['id']}"
    assert app.client.get(url, headers=bob).status_code == 404
    assert _put(app, bob, upload["id"], b"x" * 10, 0, 10).status_code == 404
    assert app.client.delete(url, headers=bob).status_code == 404
    assert app.client.get(url).status_code == 401
    assert app.client.post(f"/api/v1/repos/{repo}/uploads", json={"path": "/b", "size": 1},
                           headers=bob).status_code in (403, 404)
    assert app.client.get(f"/api/v1/repos/{repo}/uploads", params={"p": "/p.bin", "size": 10},
                          headers=bob).status_code in (403, 404)
    assert app.client.get(url, headers=alice).json()["received"] == 0


def test_cancel_forgets_the_session(app: App, alice: dict[str, str], repo: str) -> None:
    upload = _start(app, alice, repo, "/c.bin", 10)
    url = f"/api/v1/uploads/{upload['id']}"
    assert app.client.delete(url, headers=alice).status_code == 204
    assert app.client.get(url, headers=alice).status_code == 404
    assert _put(app, alice, upload["id"], b"x" * 10, 0, 10).status_code == 404
    assert app.client.delete(url, headers=alice).status_code == 404


def test_open_sessions_per_user_are_capped(app: App, alice: dict[str, str], repo: str,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(uploads, "MAX_OPEN_UPLOADS_PER_USER", 2)
    first = _start(app, alice, repo, "/1.bin", 10)
    _start(app, alice, repo, "/2.bin", 10)
    refused = app.client.post(f"/api/v1/repos/{repo}/uploads",
                              json={"path": "/3.bin", "size": 10}, headers=alice)
    assert refused.status_code == 429
    assert "unfinished uploads" in refused.json()["error_msg"]
    bob = app.login(BOB)  # the cap is per user
    _start(app, bob, str(app.create_library(bob, "bob's")["repo_id"]), "/b.bin", 10)
    finished = _put(app, alice, first["id"], b"0123456789", 0, 10)
    assert finished.status_code == 201, finished.text  # a finished upload frees its place
    _start(app, alice, repo, "/3.bin", 10)


def test_name_clash_numbers_or_replaces(app: App, alice: dict[str, str], repo: str) -> None:
    _upload(app, alice, repo, "/n.txt", b"first", [])
    second = _upload(app, alice, repo, "/n.txt", b"second", [3])
    assert second["file"]["name"] == "n (1).txt"
    third = _upload(app, alice, repo, "/n.txt", b"third!", [], replace=True)
    assert third["file"]["name"] == "n.txt"
    assert _download(app, alice, repo, "/n.txt") == b"third!"
    assert _download(app, alice, repo, "/n (1).txt") == b"second"


def test_empty_file_commits_at_start(app: App, alice: dict[str, str], repo: str) -> None:
    started = _start(app, alice, repo, "/empty", 0)
    assert started["file"]["size"] == 0
    assert _download(app, alice, repo, "/empty") == b""


def test_finish_cut_short_completes_with_a_status_range(
        app: App, alice: dict[str, str], repo: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """All bytes recorded, then the commit failed: `bytes */size` commits the file once."""
    data = random.Random(2).randbytes(MiB + 3)
    upload = _start(app, alice, repo, "/f.bin", len(data))

    def unavailable(*args: Any, **kwargs: Any) -> Any:
        raise Unavailable("simulated crash before the commit")

    monkeypatch.setattr(uploads, "commit_change", unavailable)
    assert _put(app, alice, upload["id"], data, 0, len(data)).status_code == 503
    monkeypatch.undo()
    url = f"/api/v1/uploads/{upload['id']}"
    assert app.client.get(url, headers=alice).json()["received"] == len(data)
    finish = app.client.put(url, headers={**alice, "Content-Range": f"bytes */{len(data)}"})
    assert finish.status_code == 201, finish.text
    assert finish.json()["file"]["name"] == "f.bin"
    assert _download(app, alice, repo, "/f.bin") == data
    assert app.client.get(url, headers=alice).status_code == 404


def test_received_moves_only_by_compare_and_swap(app: App, alice: dict[str, str],
                                                 repo: str) -> None:
    upload = _start(app, alice, repo, "/cas.bin", 100)
    block = UploadBlock("a" * 40, 10)
    with app.deps.uow() as uow:
        assert uow.uploads.advance(upload["id"], expected=0, new=10, blocks=[block],
                                   tail_block_id=None, now=1)
        assert not uow.uploads.advance(upload["id"], expected=0, new=20, blocks=[block],
                                       tail_block_id="b" * 40, now=2)
        uow.commit()
    saved, blocks = _session(app, upload["id"])
    assert saved is not None
    assert (saved.received, saved.tail_block_id, blocks) == (10, None, [block])


def test_gc_keeps_open_sessions_and_expires_idle_ones(app: App, alice: dict[str, str],
                                                      repo: str) -> None:
    kept = _start(app, alice, repo, "/kept.bin", len(CONTENT))
    dropped = _start(app, alice, repo, "/dropped.bin", len(CONTENT))
    other = random.Random(3).randbytes(9 * MiB)
    assert _put(app, alice, kept["id"], CONTENT[:13 * MiB], 0, len(CONTENT)).status_code == 200
    assert _put(app, alice, dropped["id"], other, 0, len(CONTENT)).status_code == 200
    _, dropped_blocks = _session(app, dropped["id"])
    assert app.client.delete(f"/api/v1/uploads/{dropped['id']}", headers=alice).status_code \
        == 204
    time.sleep(1.1)  # every stored block is now older than a zero grace period
    eager = GcPolicy(history_seconds=0, grace_seconds=0)
    report = gc.collect_garbage(app.deps, eager)
    assert not report.errors
    store = app.deps.objects
    assert store.missing(ObjectKind.BLOCK, repo, [b.block_id for b in dropped_blocks]) == \
        [b.block_id for b in dropped_blocks]
    done = _put(app, alice, kept["id"], CONTENT[13 * MiB:], 13 * MiB, len(CONTENT))
    assert done.status_code == 201, done.text
    assert _download(app, alice, repo, "/kept.bin") == CONTENT

    idle = _start(app, alice, repo, "/idle.bin", 10)
    time.sleep(1.1)
    gc.collect_garbage(app.deps, GcPolicy(upload_expiry_seconds=0))
    assert app.client.get(f"/api/v1/uploads/{idle['id']}", headers=alice).status_code == 404


def test_encrypted_library_upload(app: App, alice: dict[str, str]) -> None:
    repo = str(app.create_library(alice, "secret", passwd="s3cret-pass")["repo_id"])
    upload = _start(app, alice, repo, "/e.bin", len(CONTENT))
    locked = _put(app, alice, upload["id"], CONTENT[:MiB], 0, len(CONTENT))
    assert locked.status_code == 440
    unlocked = app.client.post(f"/api/v1/repos/{repo}/unlock", json={"password": "s3cret-pass"},
                               headers=alice)
    assert unlocked.status_code == 204, unlocked.text
    for first, end in ((0, 7 * MiB), (7 * MiB, len(CONTENT))):
        response = _put(app, alice, upload["id"], CONTENT[first:end], first, len(CONTENT))
        assert response.status_code in (200, 201), response.text
    with app.deps.uow() as uow:
        user = uow.users.get_by_email(ALICE)
    assert user is not None
    key = libraries.unlock_library(app.deps, user, repo, "s3cret-pass")
    content = files.read_file(app.deps, user, repo, "/e.bin", file_key=key)
    assert b"".join(content.chunks) == CONTENT
    stored = app.deps.objects.get(ObjectKind.BLOCK, repo, _block_ids(app, repo, "/e.bin")[0])
    assert CONTENT[:4096] not in stored
    expected = [codec.sha1_hex(crypto.encrypt_block(key, chunk))
                for chunk in chunking.chunk_bytes(CONTENT)]
    assert _block_ids(app, repo, paths.normalize("/e.bin")) == expected
