"""S3ObjectStore on a real Ceph radosgw keeps every object and takes new ones with an OSD down."""

from __future__ import annotations

import json
import os

from sesamedisk.adapters.objects.s3 import S3ObjectStore
from sesamedisk.adapters.objects.s3_writer import MIN_PART_SIZE
from sesamedisk.domain.codec import sha1_hex
from sesamedisk.ports.objects import ObjectKind
from tests.contract.test_object_store import SCOPE_A
from tests.plugins.ceph import CephCluster

BLOCK = ObjectKind.BLOCK
STOPPED_OSD = 2
# Many small objects land in every placement group (so osd.2 is the primary of some of them);
# the large ones go through multipart uploads.
SIZES = [1, 100, 4096, *range(10_000, 30_000, 1000), MIN_PART_SIZE + 1, 2 * MIN_PART_SIZE + 77]


def _store(cluster: CephCluster) -> S3ObjectStore:
    return S3ObjectStore(cluster.new_bucket(), endpoint_url=cluster.endpoint,
                         access_key=cluster.access_key, secret_key=cluster.secret_key,
                         part_size=MIN_PART_SIZE)


def _write(store: S3ObjectStore, data: bytes) -> str:
    writer = store.open_writer(BLOCK, SCOPE_A)
    writer.write(data)
    object_id = writer.digest
    writer.commit(object_id)
    return object_id


def _write_all(store: S3ObjectStore, sizes: list[int]) -> dict[str, bytes]:
    written = {}
    for size in sizes:
        data = os.urandom(size)
        written[_write(store, data)] = data
    return written


def _assert_intact(store: S3ObjectStore, written: dict[str, bytes]) -> None:
    for object_id, data in written.items():
        stored = store.get(BLOCK, SCOPE_A, object_id)
        assert sha1_hex(stored) == object_id, f"{object_id} came back damaged"
        assert stored == data
    assert set(store.iter_ids(BLOCK, SCOPE_A)) >= set(written)


def test_one_stopped_osd_loses_nothing_and_blocks_no_write(ceph_cluster: CephCluster) -> None:
    ceph_cluster.wait_healthy()
    store = _store(ceph_cluster)
    before = _write_all(store, SIZES)
    ceph_cluster.stop_osd(STOPPED_OSD)
    try:
        checks = json.loads(ceph_cluster.ceph("health", "--format", "json"))["checks"]
        assert "OSD_DOWN" in checks, f"osd.{STOPPED_OSD} is not reported down: {checks}"
        _assert_intact(store, before)
        during = _write_all(store, SIZES[::4])
        _assert_intact(store, during)
    finally:
        ceph_cluster.start_osd(STOPPED_OSD)
    ceph_cluster.wait_healthy(timeout=120)
    _assert_intact(store, before | during)
