"""A real Ceph cluster (mon, mgr, 3 memstore OSDs, radosgw) per test session, on free ports."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import pytest
from botocore.config import Config

from tests.plugins.peers import require_peer

if TYPE_CHECKING:
    from types_boto3_s3.client import S3Client

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
CEPH_BINARIES = ("ceph", "ceph-authtool", "monmaptool", "ceph-mon", "ceph-mgr", "ceph-osd",
                 "radosgw", "radosgw-admin", "curl")
INSTALL_HINT = ("apt-get install --no-install-recommends ceph-mon ceph-osd ceph-mgr radosgw "
                "ceph-common (scripts/install-test-deps.sh)")
START_TIMEOUT = 180.0
OSDS = 3
"""OSDs in the cluster (memstore); every pool keeps 3 copies, so each PG lives on all of them."""


def _free_ports(count: int) -> list[int]:
    """Distinct ports nothing listens on right now (all bound at once, then released)."""
    with ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]


@dataclass
class CephCluster:
    """A cluster started by scripts/ceph-start.sh in `directory`: S3 access and OSD faults."""

    directory: Path
    endpoint: str
    access_key: str
    secret_key: str

    def _run(self, *argv: str, timeout: float = 60.0) -> str:
        return _run(self.directory, argv, timeout)

    def ceph(self, *args: str) -> str:
        """Run the `ceph` admin CLI against this cluster; its stdout."""
        return self._run("ceph", "--connect-timeout", "20", *args)

    def osd_up(self, n: int) -> bool:
        """Whether the osdmap has osd.n up."""
        osds = json.loads(self.ceph("osd", "dump", "--format", "json"))["osds"]
        return any(osd["osd"] == n and osd["up"] == 1 for osd in osds)

    def _wait_osd(self, n: int, up: bool, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.osd_up(n) != up:
            if time.monotonic() > deadline:
                raise AssertionError(f"osd.{n} not {'up' if up else 'down'} after {timeout}s")
            time.sleep(0.2)

    def stop_osd(self, n: int, timeout: float = 30.0) -> None:
        """Stop osd.n (TERM by its pid file) and wait until the monitor marks it down."""
        self._run("bash", str(SCRIPTS / "ceph-stop.sh"), "osd", str(n))
        self._wait_osd(n, up=False, timeout=timeout)

    def start_osd(self, n: int, timeout: float = 30.0) -> None:
        """Start osd.n again and wait until it is up (recovery may still be running)."""
        self._run("bash", str(SCRIPTS / "ceph-start.sh"), "osd", str(n))
        self._wait_osd(n, up=True, timeout=timeout)

    def health(self) -> str:
        """HEALTH_OK, HEALTH_WARN or HEALTH_ERR."""
        return str(json.loads(self.ceph("health", "--format", "json"))["status"])

    def all_pgs_clean(self) -> bool:
        """Every placement group active+clean on all OSDs (a stale report is not clean)."""
        pgs = json.loads(self.ceph("pg", "dump", "pgs_brief", "--format", "json"))["pg_stats"]
        return bool(pgs) and all(pg["state"] == "active+clean" and len(pg["acting"]) == OSDS
                                 for pg in pgs)

    def wait_healthy(self, timeout: float = 120.0) -> None:
        """Wait for HEALTH_OK with every PG active+clean; fail with `ceph health detail`."""
        deadline = time.monotonic() + timeout
        while self.health() != "HEALTH_OK" or not self.all_pgs_clean():
            if time.monotonic() > deadline:
                raise AssertionError(f"Ceph not healthy after {timeout}s:\n"
                                     f"{self.ceph('health', 'detail')}")
            time.sleep(0.5)

    def s3_client(self) -> S3Client:
        """A boto3 S3 client for radosgw (path-style, explicit keys)."""
        return boto3.session.Session().client(
            "s3", endpoint_url=self.endpoint, aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key, region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}))

    def new_bucket(self) -> str:
        """Create a uniquely named bucket, so that no two tests see each other's objects."""
        name = f"sesame-{uuid.uuid4().hex[:16]}"
        self.s3_client().create_bucket(Bucket=name)
        return name


def _run(directory: Path, argv: tuple[str, ...], timeout: float,
         **knobs: str) -> str:
    """Run a script or CLI for the cluster in `directory`; its stdout, or AssertionError."""
    env = {**os.environ, **knobs, "CEPH_DIR": str(directory),
           "CEPH_CONF": str(directory / "ceph.conf")}
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout,
                          check=False)
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} exited {done.returncode}:\n"
                             f"{done.stdout}{done.stderr}")
    return done.stdout


def _log_tail(directory: Path, chars: int = 3000) -> str:
    """The end of every daemon log, for a failure message."""
    return "\n".join(f"== {log.name}\n{log.read_text(errors='replace')[-chars:]}"
                     for log in sorted((directory / "log").glob("*.log")))


def _start(directory: Path) -> CephCluster:
    """Bootstrap a cluster in `directory` on free ports; fail the session if it does not start."""
    mon_port, mon_v1_port, rgw_port = _free_ports(3)
    try:
        _run(directory, ("bash", str(SCRIPTS / "ceph-start.sh")), START_TIMEOUT,
             CEPH_MON_PORT=str(mon_port), CEPH_MON_V1_PORT=str(mon_v1_port),
             CEPH_RGW_PORT=str(rgw_port))
    except (AssertionError, subprocess.TimeoutExpired) as exc:
        pytest.fail(f"the Ceph cluster did not start: {exc}\n{_log_tail(directory)}")
    settings = dict(line.split("=", 1) for line in
                    (directory / "s3.env").read_text().splitlines() if "=" in line)
    return CephCluster(directory, settings["S3_ENDPOINT"], settings["S3_ACCESS_KEY"],
                       settings["S3_SECRET_KEY"])


@pytest.fixture(scope="session")
def ceph_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CephCluster]:
    """One cluster for the whole session in a fresh directory; stopped and removed at the end."""
    missing = [binary for binary in CEPH_BINARIES if shutil.which(binary) is None]
    require_peer(not missing, f"Ceph ({', '.join(missing)}): {INSTALL_HINT}")
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    directory = tmp_path_factory.mktemp("ceph", numbered=True)
    try:
        yield _start(directory)
    finally:
        _run(directory, ("bash", str(SCRIPTS / "ceph-stop.sh")), 120)
    shutil.rmtree(directory, ignore_errors=True)  # kept for a post-mortem when stopping failed
