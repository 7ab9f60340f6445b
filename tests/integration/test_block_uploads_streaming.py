"""The block-upload services underneath §10.4, on both databases and the real local store.

Raw blocks stream into a store writer piece by piece (never buffered whole, never `put`),
a commit looks each block up once, links are redeemed once for any of several ops, and the
forms of upload-blks-link and api2 keep their size rules.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any, cast

import pytest

from sesamedisk.errors import InvalidRequest, PermissionDenied, TooLarge
from sesamedisk.ports.deps import Deps
from sesamedisk.ports.objects import ObjectKind, ObjectStore, ObjectWriter
from sesamedisk.services import accounts, block_uploads, transfer_links
from sesamedisk.services.block_uploads import BlocksMissing
from sesamedisk.services.libraries import get_library
from sesamedisk.services.transfer_links import DOWNLOAD, UPDATE, UPLOAD, WRITE_OPS, Transfer
from tests.plugins.app import App

ALICE = "alice@example.com"
PIECE = 64 * 1024


class _SpyWriter:
    """Passes writes on, remembering the size of each."""

    def __init__(self, inner: ObjectWriter, sizes: list[int]) -> None:
        self._inner, self._sizes = inner, sizes

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._sizes.append(len(data))
        self._inner.write(data)


class _SpyStore:
    """Delegates to a real store, counting the calls the block-upload path makes."""

    def __init__(self, inner: ObjectStore) -> None:
        self._inner = inner
        self.calls: Counter[str] = Counter()
        self.write_sizes: list[int] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def put(self, *args: Any) -> None:
        self.calls["put"] += 1
        self._inner.put(*args)

    def open_writer(self, kind: ObjectKind, scope: str) -> ObjectWriter:
        self.calls["open_writer"] += 1
        return cast(ObjectWriter, _SpyWriter(self._inner.open_writer(kind, scope),
                                             self.write_sizes))

    def missing(self, *args: Any) -> list[str]:
        self.calls["missing"] += 1
        return self._inner.missing(*args)

    def size(self, *args: Any) -> int:
        self.calls["size"] += 1
        return self._inner.size(*args)


def _sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def _pieces(data: bytes, size: int = PIECE) -> Iterator[bytes]:
    return (data[i:i + size] for i in range(0, len(data), size))


def _setup(app: App) -> tuple[Deps, _SpyStore, Transfer, str]:
    """Deps over a spy store, an upload link's transfer, and the library's id."""
    headers = app.login(ALICE)
    user = accounts.authenticate(app.deps, headers["Authorization"].split()[1])
    repo = str(app.create_library(headers)["repo_id"])
    spy = _SpyStore(app.deps.objects)
    deps = dataclasses.replace(app.deps, objects=cast(ObjectStore, spy))
    token, _ = transfer_links.issue_link(deps, user, repo, UPLOAD, "/", reuse=True)
    return deps, spy, transfer_links.redeem(deps, token, WRITE_OPS), repo


def _store(deps: Deps, transfer: Transfer, block_id: str, chunks: Iterable[bytes],
           max_bytes: int = 8 * 1024 * 1024) -> None:
    block_uploads.store_block(deps, transfer, block_id, chunks, max_bytes=max_bytes)


def test_raw_block_streams_into_a_writer_piece_by_piece(app: App) -> None:
    deps, spy, transfer, repo = _setup(app)
    block = os.urandom(3 * 1024 * 1024 + 5)
    _store(deps, transfer, _sha1(block), _pieces(block))
    assert spy.calls["put"] == 0
    assert spy.calls["open_writer"] == 1
    assert max(spy.write_sizes) == PIECE  # the block is never joined in memory
    assert sum(spy.write_sizes) == len(block)
    assert app.deps.objects.get(ObjectKind.BLOCK, repo, _sha1(block)) == block


def test_raw_block_not_its_id_or_too_large_is_refused_and_not_stored(app: App) -> None:
    deps, spy, transfer, repo = _setup(app)
    real, forged = os.urandom(PIECE * 2), os.urandom(PIECE * 2)
    with pytest.raises(InvalidRequest) as mismatch:
        _store(deps, transfer, _sha1(real), _pieces(forged))
    assert mismatch.value.message == f"blocks object {_sha1(real)} does not match its content"
    big = os.urandom(PIECE * 4)
    with pytest.raises(TooLarge) as too_large:
        _store(deps, transfer, _sha1(big), _pieces(big), max_bytes=PIECE * 3)
    assert too_large.value.message == f"block {_sha1(big)} is larger than {PIECE * 3} bytes"
    assert sum(spy.write_sizes) == PIECE * 2 + PIECE * 3  # nothing written past the limit
    with pytest.raises(InvalidRequest):
        _store(deps, transfer, "not-a-block-id", _pieces(real))
    for data in (real, forged, big):
        assert not app.deps.objects.exists(ObjectKind.BLOCK, repo, _sha1(data))
    capped = os.urandom(block_uploads.MAX_RAW_BLOCK_BYTES + 1)
    with pytest.raises(TooLarge):  # max_bytes never raises the service's own cap
        _store(deps, transfer, _sha1(capped), _pieces(capped, 1024 * 1024),
               max_bytes=2 * block_uploads.MAX_RAW_BLOCK_BYTES)


def test_commit_looks_each_distinct_block_up_once(app: App) -> None:
    deps, spy, transfer, _ = _setup(app)
    first, second, absent, other = (os.urandom(100 + n) for n in range(4))
    for block in (first, second):
        _store(deps, transfer, _sha1(block), [block])
    spy.calls.clear()
    ids = block_uploads.block_ids([_sha1(first), _sha1(second), _sha1(first)])
    content = block_uploads.file_from_blocks(deps, transfer.library, ids, 2 * 100 + 101)
    assert content.block_ids == ids
    assert spy.calls == Counter(size=2)
    spy.calls.clear()
    wanted = block_uploads.block_ids([_sha1(absent), _sha1(first), _sha1(absent),
                                      _sha1(other)])
    with pytest.raises(BlocksMissing) as missing:
        block_uploads.file_from_blocks(deps, transfer.library, wanted, 1)
    assert missing.value.missing == [_sha1(absent), _sha1(other)]  # in order, no repeats
    assert spy.calls == Counter(size=3)


def test_redeem_accepts_any_of_several_ops_in_one_go(app: App) -> None:
    headers = app.login(ALICE)
    user = accounts.authenticate(app.deps, headers["Authorization"].split()[1])
    repo = str(app.create_library(headers)["repo_id"])
    put = app.client.put(f"/api/v1/repos/{repo}/file", params={"p": "/a.txt"},
                         content=b"hello", headers=headers)
    assert put.status_code == 201, put.text
    deps = app.deps
    upload, _ = transfer_links.issue_link(deps, user, repo, UPLOAD, "/")
    update, _ = transfer_links.issue_link(deps, user, repo, UPDATE, "/")
    download, _ = transfer_links.issue_link(deps, user, repo, DOWNLOAD, "/a.txt")
    assert transfer_links.redeem(deps, upload, WRITE_OPS).token.op == UPLOAD
    assert transfer_links.redeem(deps, update, (UPLOAD, UPDATE)).token.op == UPDATE
    assert transfer_links.redeem(deps, update, UPDATE).token.op == UPDATE
    assert block_uploads.redeem(deps, update).token.op == UPDATE
    for token, ops in ((download, WRITE_OPS), (upload, UPDATE), (update, frozenset({UPLOAD})),
                       ("forged", WRITE_OPS), (upload, ())):
        with pytest.raises(PermissionDenied):
            transfer_links.redeem(deps, token, ops)
    # The refused tries did not use up the one-time download token.
    assert transfer_links.redeem(deps, download, {DOWNLOAD, UPLOAD}).token.path == "/a.txt"
    with pytest.raises(PermissionDenied):
        transfer_links.redeem(deps, download, DOWNLOAD)
    assert get_library(deps, user, repo).id == repo


def test_blklist_form_needs_a_length_and_answers_413_past_its_limit(app: App) -> None:
    headers = app.login(ALICE)
    repo = str(app.create_library(headers)["repo_id"])
    url = f"/api2/repos/{repo}/upload-blks-link/?p=/"
    form = {**headers, "Content-Type": "application/x-www-form-urlencoded"}
    limit = block_uploads.MAX_BLOCK_LIST_BYTES
    over = app.client.post(url, content=b"blklist=" + b"a" * limit, headers=form)
    assert over.status_code == 413, over.text

    def chunked() -> Iterator[bytes]:
        yield b"blklist=" + b"a" * 40

    unsized = app.client.post(url, content=chunked(), headers=form)
    assert unsized.status_code == 400, unsized.text
    # Up to the limit a single field may be larger than Starlette's default 1 MiB part.
    body = b"blklist=" + b",".join([b"a" * 40] * 30_000)
    assert 1024 * 1024 < len(body) <= limit
    large = app.client.post(url, content=body, headers=form)
    assert large.status_code == 200, large.text
    assert large.json()["blklist"] == ["a" * 40]


def test_small_api2_forms_answer_400_past_64_kib(app: App) -> None:
    headers = app.login(ALICE)
    for desc_bytes, status in ((60 * 1024, 200), (70 * 1024, 400)):
        response = app.client.post("/api2/repos/", headers=headers,
                                   data={"name": f"d{desc_bytes}", "desc": "d" * desc_bytes})
        assert response.status_code == status, response.text
    assert "form body missing or too large" in response.text
    listed = app.client.get("/api2/repos/", headers=headers).json()
    assert [r["name"] for r in listed] == [f"d{60 * 1024}"]
