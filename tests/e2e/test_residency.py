"""A real server with backends in three regions: a library pinned to "eu" never leaves it."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sesamedisk.adapters.objects.verifying import content_matches
from sesamedisk.ports.objects import ObjectKind
from tests.plugins.server import SesameApi, SesameServer, _auth

CONFIG = """
[storage]
copies = 2
write_quorum = 1

[[storage.backends]]
type = "local"
name = "eu-1"
region = "eu"
path = "disks/eu-1"

[[storage.backends]]
type = "local"
name = "cn-1"
region = "cn"
path = "disks/cn-1"

[[storage.backends]]
type = "local"
name = "eu-2"
region = "eu"
path = "disks/eu-2"

[[storage.backends]]
type = "local"
name = "us-1"
region = "us"
path = "disks/us-1"

[scrub]
repair_interval_seconds = 0.5
"""
KIND_NAMES = {kind.value for kind in ObjectKind}


def _scope_objects(disk: Path, scope: str) -> dict[str, bytes]:
    """Every object file of one library below one backend folder, by kind/id."""
    found: dict[str, bytes] = {}
    for path in (disk / scope).glob("*/*/*"):
        kind, prefix = path.parts[-3:-1]
        if path.is_file() and not path.name.startswith(".") and kind in KIND_NAMES:
            found[f"{kind}/{prefix}{path.name}"] = path.read_bytes()
    return found


def _verified(disk: Path, scope: str) -> set[str]:
    return {key for key, data in _scope_objects(disk, scope).items()
            if content_matches(ObjectKind(key.split("/")[0]), key.split("/")[1], data)}


@pytest.fixture
def regional(sesame_server_factory: Callable[..., SesameServer],
             tmp_path: Path) -> SesameServer:
    config = tmp_path / "regions.toml"
    config.write_text(CONFIG)
    return sesame_server_factory("regional", config=config)


@pytest.fixture
def api(regional: SesameServer) -> Iterator[tuple[SesameApi, str]]:
    with SesameApi(regional.url) as client:
        yield client, client.login(regional.admin_email, regional.admin_password)


def _create(api: tuple[SesameApi, str], name: str, regions: str | None) -> str:
    client, token = api
    form = {"name": name, **({"regions": regions} if regions is not None else {})}
    response = client.http.post("/api2/repos/", data=form, headers=_auth(token))
    assert response.status_code == 200, response.text
    return str(response.json()["repo_id"])


def _upload(api: tuple[SesameApi, str], library: str, files: dict[str, bytes]) -> None:
    client, token = api
    for path, content in files.items():
        response = client.put_file(token, library, path, content)
        assert response.status_code == 201, response.text


def _download(api: tuple[SesameApi, str], library: str, path: str) -> bytes:
    client, token = api
    response = client.http.get(f"/api/v1/repos/{library}/file", params={"p": path},
                               headers=_auth(token))
    assert response.status_code == 200, response.text
    return response.content


def test_pinned_library_stays_in_its_region_through_loss_and_repair(
        regional: SesameServer, api: tuple[SesameApi, str]) -> None:
    disks = {name: regional.data_dir / "disks" / name for name in ("eu-1", "cn-1", "eu-2",
                                                                   "us-1")}
    pinned = _create(api, "eu only", "eu")
    anywhere = _create(api, "anywhere", None)
    first = {"/a.bin": os.urandom(3_000_000), "/b.txt": b"residency\n" * 100}
    _upload(api, pinned, first)
    _upload(api, anywhere, first)
    # The unpinned library's placement is the first two backends: eu-1 and cn-1.
    assert _scope_objects(disks["cn-1"], anywhere)
    assert _scope_objects(disks["eu-2"], pinned)

    shutil.rmtree(disks["eu-1"])
    second = {"/c.bin": os.urandom(2_000_000)}
    _upload(api, pinned, second)
    for path, content in {**first, **second}.items():
        assert _download(api, pinned, path) == content
    disks["eu-1"].mkdir()
    result = regional.cli("scrub", "--rate", "0")
    assert result.returncode == 0, result.stdout + result.stderr

    expected = _verified(disks["eu-2"], pinned)
    assert expected
    assert _verified(disks["eu-1"], pinned) == expected
    for foreign in ("cn-1", "us-1"):
        assert _scope_objects(disks[foreign], pinned) == {}, f"{foreign} holds eu bytes"
    fsck = regional.cli("fsck")
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr


def test_impossible_regions_are_refused(api: tuple[SesameApi, str]) -> None:
    client, token = api
    response = client.http.post("/api2/repos/", data={"name": "nowhere", "regions": "mars"},
                                headers=_auth(token))
    assert response.status_code == 400
    assert "mars" in response.text
