"""The captured fixture tree syncs with the real seaf-cli against a server stored in Ceph."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sesamedisk.ports.objects import ObjectKind
from tests.e2e.test_seafcli_sync import MANIFEST, fixture_roundtrip
from tests.plugins.ceph import CephCluster
from tests.plugins.seafcli import SeafClient, SyncEnv
from tests.plugins.server import REPO_ROOT, SesameApi, SesameServer

pytestmark = pytest.mark.seafcli
PLAIN = MANIFEST["libraries"]["plain"]


def _config(tmp_path: Path, ceph: CephCluster, bucket: str) -> Path:
    """examples/ceph.toml pointed at the test cluster and a fresh bucket."""
    text = (REPO_ROOT / "examples" / "ceph.toml").read_text()
    text = text.replace('"http://127.0.0.1:7480"', f'"{ceph.endpoint}"')
    text = text.replace('bucket = "sesame"', f'bucket = "{bucket}"')
    text = text.replace('access_key = "sesame"', f'access_key = "{ceph.access_key}"')
    config = tmp_path / "ceph.toml"
    config.write_text(text)
    return config


@pytest.fixture
def ceph_env(ceph_cluster: CephCluster, tmp_path: Path,
             sesame_server_factory: Callable[..., SesameServer],
             seaf_client_factory: Callable[..., SeafClient]) -> Iterator[tuple[SyncEnv, str]]:
    """A server whose only object store is a fresh bucket in the test cluster; the bucket."""
    bucket = f"sesame-e2e-{tmp_path.name[-12:].lower().replace('_', '-')}"
    server = sesame_server_factory(
        "ceph", config=_config(tmp_path, ceph_cluster, bucket),
        extra_env={"SESAMEDISK_CEPH_SECRET": ceph_cluster.secret_key})
    with SesameApi(server.url) as api:
        env = SyncEnv(server=server, api=api, new_client=seaf_client_factory,
                      user=server.admin_email, password=server.admin_password, _rtokens={})
        yield env, bucket


def test_fixture_tree_syncs_with_ceph_as_the_primary_store(
        ceph_env: tuple[SyncEnv, str], ceph_cluster: CephCluster) -> None:
    env, bucket = ceph_env
    fixture_roundtrip(env)
    # Every block and fs object of the fixture lives in the Ceph bucket, nowhere else.
    keys = {obj["Key"] for page in ceph_cluster.s3_client().get_paginator(
        "list_objects_v2").paginate(Bucket=bucket) for obj in page.get("Contents", [])}
    stored = {(key.split("/")[1], key.split("/")[2] + key.split("/")[3]) for key in keys
              if key.count("/") == 3}
    for block in PLAIN["blocks"]:
        assert (ObjectKind.BLOCK.value, block) in stored, f"block {block} not in Ceph"
    for fs_id in PLAIN["fs_objects"]:
        assert (ObjectKind.FS.value, fs_id) in stored, f"fs object {fs_id} not in Ceph"
    assert not (env.server.data_dir / "objects").exists() or not any(
        (env.server.data_dir / "objects").rglob("*/blocks/*/*"))
    fsck = env.server.cli("fsck")
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
