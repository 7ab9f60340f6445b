"""ObjectStore contract runs of S3ObjectStore on moto and on a real Ceph radosgw, plus S3 checks."""

from __future__ import annotations

import inspect
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from sesamedisk.adapters.objects.s3 import S3ObjectStore
from sesamedisk.adapters.objects.s3_writer import MIN_PART_SIZE
from sesamedisk.adapters.objects.verifying import VerifyingObjectStore
from sesamedisk.domain.codec import sha1_hex
from sesamedisk.errors import InvalidRequest, ObjectNotFound, Unavailable
from sesamedisk.ports.objects import ObjectKind, ObjectStore
from tests.contract import test_object_store as store_suite
from tests.contract import test_object_writer as writer_suite
from tests.plugins.ceph import CephCluster
from tests.plugins.peers import require_peer

MOTO_SERVER = shutil.which("moto_server", path=os.path.dirname(sys.executable)) or \
    shutil.which("moto_server")

# Every contract test that takes the `store` fixture runs here again, with the fixture below.
CONTRACT_TESTS = [
    name for suite in (store_suite, writer_suite) for name, test in vars(suite).items()
    if name.startswith("test_") and callable(test)
    and "store" in inspect.signature(test).parameters
]
globals().update({name: getattr(store_suite, name, None) or getattr(writer_suite, name)
                  for name in CONTRACT_TESTS})

SCOPE_A = store_suite.SCOPE_A
BLOCK = ObjectKind.BLOCK
PART = MIN_PART_SIZE


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_moto() -> tuple[subprocess.Popen[bytes], str]:
    """A moto server in its own process (so memory measurements see only the client)."""
    require_peer(MOTO_SERVER is not None, "moto_server (pip install 'moto[server]')")
    assert MOTO_SERVER is not None
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    port = _free_port()
    server = subprocess.Popen([MOTO_SERVER, "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while server.poll() is None and time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        except OSError:
            time.sleep(0.05)
        else:
            return server, f"http://127.0.0.1:{port}"
    _stop(server)
    pytest.fail("moto_server did not start")


def _stop(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    try:
        server.wait(10)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    server, endpoint = _start_moto()
    yield endpoint
    _stop(server)


@dataclass(frozen=True)
class S3Server:
    """Where an S3 server answers and the keys it accepts."""

    name: str
    endpoint: str
    access_key: str = "test"
    secret_key: str = "test"


def _server(request: pytest.FixtureRequest, name: str) -> S3Server:
    if name == "moto":
        return S3Server("moto", request.getfixturevalue("moto_endpoint"))
    cluster: CephCluster = request.getfixturevalue("ceph_cluster")
    return S3Server("radosgw", cluster.endpoint, cluster.access_key, cluster.secret_key)


@pytest.fixture(scope="session", params=["moto", "radosgw"])
def s3_server(request: pytest.FixtureRequest) -> S3Server:
    """Every S3-only test runs on moto and on a real Ceph radosgw."""
    return _server(request, request.param)


def _s3(server: S3Server, **options: Any) -> S3ObjectStore:
    """A store on a new bucket of its own, so that no test sees another one's objects."""
    bucket = f"sesame-{uuid.uuid4().hex[:16]}"
    s3 = S3ObjectStore(bucket, endpoint_url=server.endpoint, access_key=server.access_key,
                       secret_key=server.secret_key, part_size=PART, **options)
    s3.client.create_bucket(Bucket=bucket)
    return s3


@pytest.fixture
def s3(s3_server: S3Server) -> S3ObjectStore:
    return _s3(s3_server, prefix="tenant/")


# The verifying decorator does not care which server is behind it: moto is enough for it.
STORE_VARIANTS = [("moto", "s3"), ("moto", "verifying-s3"), ("radosgw", "s3")]


@pytest.fixture(params=STORE_VARIANTS, ids=["-".join(variant) for variant in STORE_VARIANTS])
def store(request: pytest.FixtureRequest) -> ObjectStore:
    server, variant = request.param
    s3 = _s3(_server(request, server), prefix="" if variant == "s3" else "tenant/")
    return s3 if variant == "s3" else VerifyingObjectStore(s3)


def test_the_contract_suites_are_really_imported() -> None:
    # Cross-check against the suites' source text, independently of `inspect`.
    in_source = {match for suite in (store_suite, writer_suite) for match in re.findall(
        r"^def (test_\w+)\(\s*store: ObjectStore", inspect.getsource(suite), re.M)}
    assert set(CONTRACT_TESTS) == in_source
    assert len(CONTRACT_TESTS) >= 23
    assert all(globals()[name].__module__ != __name__ for name in CONTRACT_TESTS)


def _pending_uploads(s3: S3ObjectStore) -> list[object]:
    return list(s3.client.list_multipart_uploads(Bucket=s3.bucket).get("Uploads", []))


def _all_keys(s3: S3ObjectStore) -> list[str]:
    listed = s3.client.list_objects_v2(Bucket=s3.bucket)
    return [o["Key"] for o in listed.get("Contents", [])]


def test_keys_follow_the_documented_layout(s3: S3ObjectStore) -> None:
    object_id, data = store_suite.block(b"layout")
    s3.put(BLOCK, SCOPE_A, object_id, data)
    assert _all_keys(s3) == [f"tenant/{SCOPE_A}/blocks/{object_id[:2]}/{object_id[2:]}"]


def test_large_object_streams_multipart_with_bounded_memory(s3: S3ObjectStore) -> None:
    piece = os.urandom(256 * 1024)
    pieces = 8 * PART // len(piece) + 3  # 8 full parts and a short one
    expected = piece * pieces
    writer = s3.open_writer(BLOCK, SCOPE_A)
    tracemalloc.start()
    try:
        for _ in range(pieces):
            writer.write(piece)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 * PART, f"writer held {peak} bytes for a {len(expected)}-byte object"
    assert _pending_uploads(s3), "a large object must go through a multipart upload"
    assert writer.size == len(expected)
    digest = writer.digest
    assert digest == sha1_hex(expected)
    writer.commit(digest)
    assert s3.size(BLOCK, SCOPE_A, digest) == len(expected)
    with s3.open_read(BLOCK, SCOPE_A, digest) as stream:
        assert stream.read() == expected
    assert _pending_uploads(s3) == []
    assert _all_keys(s3) == [s3._key(BLOCK, SCOPE_A, digest)]  # no temporary object left


def test_the_completion_probe_knows_the_server_and_leaves_nothing(s3: S3ObjectStore,
                                                                  s3_server: S3Server) -> None:
    # moto honours If-None-Match on CompleteMultipartUpload, Debian 12's radosgw (Pacific)
    # ignores it: the two runs cover both ways S3ObjectWriter publishes a large object.
    assert s3.completes_conditionally() is (s3_server.name == "moto")
    assert _all_keys(s3) == []
    assert _pending_uploads(s3) == []


def test_large_commit_never_replaces_an_existing_object(s3: S3ObjectStore) -> None:
    big = os.urandom(PART + 100)
    object_id = sha1_hex(big)
    s3.put(BLOCK, SCOPE_A, object_id, b"first")
    writer = s3.open_writer(BLOCK, SCOPE_A)
    writer.write(big)
    writer.commit(object_id)
    assert s3.get(BLOCK, SCOPE_A, object_id) == b"first"
    assert _pending_uploads(s3) == []
    assert len(_all_keys(s3)) == 1


def test_abort_leaves_no_object_and_no_pending_upload(s3: S3ObjectStore) -> None:
    writer = s3.open_writer(BLOCK, SCOPE_A)
    writer.write(os.urandom(PART * 2 + 5))
    assert len(_pending_uploads(s3)) == 1
    writer.abort()
    writer.abort()
    assert _pending_uploads(s3) == []
    assert _all_keys(s3) == []
    with pytest.raises(InvalidRequest):
        writer.commit(sha1_hex(b""))


def test_sweep_incoming_drops_crashed_uploads(s3: S3ObjectStore, s3_server: S3Server) -> None:
    writer = s3.open_writer(BLOCK, SCOPE_A)
    writer.write(os.urandom(PART + 1))  # the process "dies" here
    if s3_server.name != "moto":  # moto reports every upload as initiated in 2010
        assert s3.sweep_incoming(3600) == 0, "a young upload must survive the sweep"
    assert s3.sweep_incoming(0) == 1
    assert _pending_uploads(s3) == []
    assert list(s3.iter_scopes()) == []


@pytest.mark.parametrize("size", [100, PART + 100])
def test_racing_writers_of_one_key_agree_on_the_first_bytes(s3: S3ObjectStore,
                                                            size: int) -> None:
    object_id = sha1_hex(b"contested")
    candidates = [bytes([n]) * size for n in range(8)]
    seen: list[bytes] = []
    barrier = threading.Barrier(len(candidates))

    def race(data: bytes) -> None:
        barrier.wait()
        if size < PART:
            s3.put(BLOCK, SCOPE_A, object_id, data)
        else:
            writer = s3.open_writer(BLOCK, SCOPE_A)
            writer.write(data)
            writer.commit(object_id)
        seen.append(s3.get(BLOCK, SCOPE_A, object_id))

    threads = [threading.Thread(target=race, args=(data,)) for data in candidates]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == len(candidates)
    assert len(set(seen)) == 1, "an object was replaced after a reader saw it"
    assert seen[0] in candidates
    assert _pending_uploads(s3) == []


def test_unreachable_endpoint_is_unavailable() -> None:
    port = _free_port()  # nothing listens there
    s3 = S3ObjectStore("sesame-closed", endpoint_url=f"http://127.0.0.1:{port}",
                       access_key="test", secret_key="test", max_attempts=1,
                       connect_timeout=1)
    object_id, data = store_suite.block(b"x")
    calls: list[Callable[[], object]] = [
        lambda: s3.put(BLOCK, SCOPE_A, object_id, data),
        lambda: s3.get(BLOCK, SCOPE_A, object_id),
        lambda: s3.exists(BLOCK, SCOPE_A, object_id),
        lambda: s3.missing(BLOCK, SCOPE_A, [object_id, sha1_hex(b"y")]),
        lambda: list(s3.iter_ids(BLOCK, SCOPE_A)),
        lambda: list(s3.iter_scopes()),
        lambda: s3.delete_scope(SCOPE_A),
    ]
    for call in calls:
        with pytest.raises(Unavailable, match="unreachable"):
            call()


def test_stopped_server_is_unavailable() -> None:
    server, endpoint = _start_moto()
    try:
        s3 = _s3(S3Server("moto", endpoint), max_attempts=1, connect_timeout=1)
        object_id, data = store_suite.block(b"before the outage")
        s3.put(BLOCK, SCOPE_A, object_id, data)
    finally:
        _stop(server)
    with pytest.raises(Unavailable):
        s3.get(BLOCK, SCOPE_A, object_id)
    writer = s3.open_writer(BLOCK, SCOPE_A)
    with pytest.raises(Unavailable):
        writer.write(bytes(PART + 1))  # a full part is sent once more bytes follow
    with pytest.raises(InvalidRequest):
        writer.write(b"the writer was aborted")


def test_missing_bucket_and_absent_objects_are_translated(s3_server: S3Server) -> None:
    s3 = S3ObjectStore(f"sesame-missing-{uuid.uuid4().hex[:8]}", endpoint_url=s3_server.endpoint,
                       access_key=s3_server.access_key, secret_key=s3_server.secret_key,
                       max_attempts=1)
    object_id, data = store_suite.block(b"x")
    with pytest.raises(Unavailable, match="bucket missing"):
        s3.put(BLOCK, SCOPE_A, object_id, data)
    existing = _s3(s3_server)
    with pytest.raises(ObjectNotFound):
        existing.get(BLOCK, SCOPE_A, object_id)


def test_radosgw_refuses_a_wrong_secret(ceph_cluster: CephCluster) -> None:
    # moto accepts any signature; radosgw checks it, as AWS does
    s3 = S3ObjectStore(ceph_cluster.new_bucket(), endpoint_url=ceph_cluster.endpoint,
                       access_key=ceph_cluster.access_key, secret_key="not-the-secret",
                       max_attempts=1)
    object_id, data = store_suite.block(b"forged")
    with pytest.raises(Unavailable, match="access denied"):
        s3.put(BLOCK, SCOPE_A, object_id, data)


def test_access_denied_is_unavailable(s3: S3ObjectStore) -> None:
    s3.client.put_bucket_policy(Bucket=s3.bucket, Policy=(
        '{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*",'
        f'"Action":"s3:GetObject","Resource":"arn:aws:s3:::{s3.bucket}/*"}}]}}'))
    object_id, data = store_suite.block(b"guarded")
    s3.put(BLOCK, SCOPE_A, object_id, data)
    with pytest.raises(Unavailable, match="access denied"):
        s3.get(BLOCK, SCOPE_A, object_id)
    with pytest.raises(Unavailable, match="access denied"):
        s3.open_read(BLOCK, SCOPE_A, object_id)


def test_bad_configuration_is_refused() -> None:
    with pytest.raises(ValueError, match="credentials"):
        S3ObjectStore("b", endpoint_url="http://127.0.0.1:1", access_key="", secret_key="x")
    with pytest.raises(ValueError, match="prefix"):
        S3ObjectStore("b", endpoint_url="http://127.0.0.1:1", access_key="a",
                      secret_key="x", prefix="no-slash")
    with pytest.raises(ValueError, match="part size"):
        S3ObjectStore("b", endpoint_url="http://127.0.0.1:1", access_key="a",
                      secret_key="x", part_size=1024)
