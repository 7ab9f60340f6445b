"""A real `sesame serve --config examples/three-copies.toml`: losing a disk, rotting a byte."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sesamedisk.adapters.objects.verifying import content_matches
from sesamedisk.ports.objects import ObjectKind
from tests.plugins.server import REPO_ROOT, SesameApi, SesameServer, _auth, sha1_hex

THREE_COPIES = REPO_ROOT / "examples" / "three-copies.toml"
FAST_REPAIRS = {"SESAMEDISK_SCRUB__REPAIR_INTERVAL_SECONDS": "0.5"}
DISKS = ("disk-1", "disk-2", "disk-3")
Key = tuple[ObjectKind, str, str]
KIND_NAMES = {kind.value for kind in ObjectKind}


def _files(seed: int) -> dict[str, bytes]:
    """A few files: small text and random content of several blocks."""
    rng = os.urandom
    return {f"/notes-{seed}.txt": f"notes {seed}\n".encode() * 50,
            f"/photos/raw-{seed}.bin": rng(1_500_000),
            f"/photos/big-{seed}.bin": rng(4_000_000 + seed)}


def _disk(server: SesameServer, name: str) -> Path:
    return server.data_dir / "copies" / name


def _objects(root: Path) -> dict[Key, Path]:
    """Every object file below one backend folder, by key."""
    found: dict[Key, Path] = {}
    for path in root.glob("*/*/*/*"):
        scope, kind, prefix = path.parts[-4:-1]
        if path.is_file() and not path.name.startswith(".") and kind in KIND_NAMES:
            found[(ObjectKind(kind), scope, prefix + path.name)] = path
    return found


def _verified(root: Path) -> set[Key]:
    """The keys of every object below `root` whose bytes match its id."""
    return {key for key, path in _objects(root).items()
            if content_matches(key[0], key[2], path.read_bytes())}


def _wait(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


class Session:
    """The admin's api token, one library, and upload/download/status helpers."""

    def __init__(self, server: SesameServer) -> None:
        self.api = SesameApi(server.url)
        self.token = self.api.login(server.admin_email, server.admin_password)
        self.library = str(self.api.create_repo(self.token, "replicated")["repo_id"])

    def upload(self, files: dict[str, bytes]) -> None:
        for path, content in files.items():
            response = self.api.put_file(self.token, self.library, path, content)
            assert response.status_code == 201, response.text

    def download(self, path: str) -> bytes:
        response = self.api.http.get(f"/api/v1/repos/{self.library}/file", params={"p": path},
                                     headers=_auth(self.token))
        assert response.status_code == 200, response.text
        return response.content

    def status(self) -> dict[str, Any]:
        response = self.api.http.get("/api/v1/admin/status", headers=_auth(self.token))
        assert response.status_code == 200, response.text
        storage: dict[str, Any] = response.json()["storage"]
        return storage


@pytest.fixture
def replicated(sesame_server_factory: Callable[..., SesameServer]) -> SesameServer:
    return sesame_server_factory("replicated", config=THREE_COPIES, extra_env=FAST_REPAIRS)


@pytest.fixture
def open_session() -> Iterator[Callable[[SesameServer], Session]]:
    """Opens sessions on a server; their HTTP clients are closed after the test."""
    opened: list[Session] = []

    def make(server: SesameServer) -> Session:
        opened.append(Session(server))
        return opened[-1]

    yield make
    for session in opened:
        session.api.close()


def _ok(result: Any) -> str:
    assert result.returncode == 0, f"rc={result.returncode}\n{result.stdout}\n{result.stderr}"
    return str(result.stdout)


def test_a_lost_backend_folder_loses_nothing_and_comes_back(
        replicated: SesameServer, open_session: Callable[[SesameServer], Session]) -> None:
    session = open_session(replicated)
    status = session.status()
    assert status["mode"] == "3 copies on 3 backends, write quorum 2"
    before = _files(1)
    session.upload(before)
    stored = _verified(_disk(replicated, "disk-1"))
    assert stored
    assert all(_verified(_disk(replicated, d)) == stored for d in DISKS[1:])

    shutil.rmtree(_disk(replicated, "disk-1"))
    for path, content in before.items():
        assert sha1_hex(session.download(path)) == sha1_hex(content), path
    during = _files(2)
    session.upload(during)
    for path, content in during.items():
        assert session.download(path) == content, path
    status = session.status()
    assert status["degraded"] is True
    disk_1 = status["backends"][0]
    assert disk_1["name"] == "disk-1"
    assert disk_1["healthy"] is False
    assert disk_1["last_error"]
    assert disk_1["pending_repairs"] > 0

    _disk(replicated, "disk-1").mkdir()
    _wait(lambda: not session.status()["degraded"], "the background repair")
    summary = _ok(replicated.cli("scrub"))
    assert "0 unrecoverable" in summary
    every = set().union(*(_objects(_disk(replicated, d)) for d in DISKS))
    assert len(every) > len(stored)
    for disk in DISKS:
        assert _verified(_disk(replicated, disk)) == every, disk
    assert "OK" in _ok(replicated.fsck())


def _block_of(server: SesameServer, disk: str, library: str, content: bytes) -> Path:
    block_id = sha1_hex(content)
    return _disk(server, disk) / library / "blocks" / block_id[:2] / block_id[2:]


def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[7] ^= 0x20
    path.write_bytes(bytes(data))


def test_b_a_flipped_byte_is_found_served_around_and_repaired(
        replicated: SesameServer, open_session: Callable[[SesameServer], Session]) -> None:
    session = open_session(replicated)
    read_later, never_read = b"read me later\n" * 100, b"nobody reads me\n" * 100
    session.upload({"/read.txt": read_later, "/unread.txt": never_read})
    rotten = _block_of(replicated, "disk-1", session.library, read_later)
    _flip(rotten)

    found = replicated.fsck()
    assert found.returncode == 1, found.stdout
    block_id = sha1_hex(read_later)
    assert (f"PROBLEM library {session.library} (replicated): corrupt copy of "
            f"blocks/{session.library}/{block_id} on backend disk-1") in found.stdout
    assert session.download("/read.txt") == read_later
    _wait(lambda: sha1_hex(rotten.read_bytes()) == block_id, "the read-triggered repair")
    assert "OK" in _ok(replicated.fsck())

    other = _block_of(replicated, "disk-3", session.library, never_read)
    _flip(other)
    assert replicated.fsck().returncode == 1
    repaired = _ok(replicated.cli("fsck", "--repair"))
    assert "repaired 1 copies" in repaired
    assert sha1_hex(other.read_bytes()) == sha1_hex(never_read)
    assert "OK" in _ok(replicated.fsck())


def test_embedded_default_says_one_verified_local_copy(
        sesame_server: SesameServer, open_session: Callable[[SesameServer], Session]) -> None:
    session = open_session(sesame_server)
    status = session.status()
    assert status["mode"] == "one verified local copy"
    assert [b["name"] for b in status["backends"]] == ["local"]
    assert status["degraded"] is False
    assert "storage: one verified local copy" in sesame_server.log_tail()
