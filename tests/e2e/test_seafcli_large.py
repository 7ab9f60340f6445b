"""Large-file e2e sync: bounded server memory for 1 GiB, and recovery from a SIGKILL mid-upload."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import threading
import time
from pathlib import Path

import pytest

from tests.plugins.seafcli import SeafClient, SyncEnv, file_sha256, wait_until
from tests.plugins.server import SesameServer, sha1_hex

pytestmark = pytest.mark.seafcli

MiB = 1 << 20
RSS_LIMIT = 300_000_000  # bytes ("300 MB")


def _random_file(path: Path, size: int) -> str:
    """Write `size` incompressible, non-repeating bytes; return their sha256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    h = hashlib.sha256()
    chunk = 8 * MiB
    with open(path, "wb") as f:
        left = size
        while left:
            data = os.urandom(min(chunk, left))
            h.update(data)
            f.write(data)
            left -= len(data)
    return h.hexdigest()


class RssSampler(threading.Thread):
    """Samples the server's RSS (with children) every 0.2 s until stopped."""

    def __init__(self, server: SesameServer) -> None:
        super().__init__(daemon=True)
        self.server = server
        self.samples: list[tuple[float, int]] = []
        self._stop_event = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        t0 = time.monotonic()
        try:
            while not self._stop_event.is_set():
                if self.server.is_running():
                    self.samples.append((time.monotonic() - t0, self.server.rss_bytes()))
                self._stop_event.wait(0.2)
        except BaseException as exc:  # reported by the test
            self.error = exc

    def stop(self) -> None:
        self._stop_event.set()
        self.join(10)

    @property
    def peak(self) -> int:
        return max((rss for _, rss in self.samples), default=0)

    def summary(self) -> str:
        top = sorted(self.samples, key=lambda s: -s[1])[:5]
        return (f"{len(self.samples)} samples, peak {self.peak / 1e6:.1f} MB;"
                f" top: {[(round(t, 1), round(r / 1e6, 1)) for t, r in top]}")


def _wait_file(client: SeafClient, repo_id: str, path: Path, size: int, timeout: float) -> None:
    def done() -> bool:
        r = client.repo(repo_id)
        return (
            r is not None and r["state"] == "synchronized"
            and path.exists() and path.stat().st_size == size
        )

    wait_until(done, timeout, f"{path} ({size} bytes) on {client.name}", client.describe, 1.0)


@pytest.mark.slow
def test_one_gib_file_syncs_with_bounded_server_memory(seaf_env: SyncEnv) -> None:
    """(e) a 1 GiB file goes up from A and down to B intact; server RSS stays < 300 MB."""
    env = seaf_env
    a, b = env.new_client("A"), env.new_client("B")
    repo_id = env.create(a, "huge")
    wt_a = env.clone(a, repo_id)
    size = 1 << 30
    staged = a.root / "staging" / "huge.bin"
    sha = _random_file(staged, size)
    head_before = a.repo(repo_id)["head"]  # type: ignore[index]

    sampler = RssSampler(env.server)
    sampler.start()
    try:
        os.rename(staged, wt_a / "huge.bin")
        env.wait_uploaded(a, repo_id, since=head_before, timeout=600)
        wt_b = env.clone(b, repo_id, timeout=600)
        _wait_file(b, repo_id, wt_b / "huge.bin", size, 600)
    finally:
        sampler.stop()
        (env.server.log_path.parent / "rss-samples.csv").write_text(
            "seconds,rss_bytes\n" + "".join(f"{t:.2f},{r}\n" for t, r in sampler.samples)
        )
    assert sampler.error is None, sampler.error
    assert len(sampler.samples) > 10, sampler.summary()
    assert file_sha256(wt_b / "huge.bin") == sha, "B's copy differs"
    assert sampler.peak < RSS_LIMIT, f"server RSS too high: {sampler.summary()}"


def _block_files(data_dir: Path) -> dict[str, Path]:
    """Files stored as .../blocks/<2 hex>/<38 hex> (the local object store layout)."""
    found = {}
    for p in data_dir.rglob("*"):
        if p.is_file() and p.parent.parent.name == "blocks":
            oid = p.parent.name + p.name
            if re.fullmatch(r"[0-9a-f]{40}", oid):
                found[oid] = p
    return found


def test_server_sigkill_mid_upload_recovers_and_fsck_passes(seaf_env: SyncEnv) -> None:
    """(f) SIGKILL during a 300 MiB upload; restart; the upload completes; fsck is clean."""
    env = seaf_env
    srv = env.server
    a, b = env.new_client("A"), env.new_client("B")
    repo_id = env.create(a, "interrupted")
    wt_a = env.clone(a, repo_id)
    rtoken = env.rtoken(repo_id)  # must survive the restart
    size = 300 * MiB
    staged = a.root / "staging" / "big.bin"
    sha = _random_file(staged, size)
    head_before = a.repo(repo_id)["head"]  # type: ignore[index]
    server_head_before = env.server_head(repo_id)
    # Throttle A so that the kill surely lands in the middle of the block uploads.
    a.set_rate_limits(upload=15 * MiB, download=0)

    base = srv.data_size()
    os.rename(staged, wt_a / "big.bin")
    wait_until(
        lambda: srv.data_size() - base >= 40 * MiB, 300, "40 MiB of blocks on the server",
        a.describe, 0.2,
    )
    assert env.server_head(repo_id) == server_head_before, "upload finished before the kill"
    srv.kill(signal.SIGKILL)
    srv.start()
    a.set_rate_limits(upload=0, download=0)

    env.wait_uploaded(a, repo_id, since=head_before, timeout=400)
    wt_b = env.clone(b, repo_id, timeout=400)
    _wait_file(b, repo_id, wt_b / "big.bin", size, 400)
    assert file_sha256(wt_b / "big.bin") == sha, "B's copy differs"

    # Every block of the file is complete: present, and its bytes hash to its id.
    tree = env.api.tree(repo_id, rtoken)
    blocks = tree["/big.bin"]["block_ids"]
    assert tree["/big.bin"]["size"] == size
    assert env.api.check_blocks(repo_id, rtoken, blocks) == []
    total = 0
    for bid in blocks:
        data = env.api.get_block(repo_id, rtoken, bid)
        assert sha1_hex(data) == bid, f"block {bid} served with wrong content"
        total += len(data)
    assert total == size
    # No half-written file is visible under an object name.
    bad = [
        f"{oid}: {path}" for oid, path in _block_files(srv.data_dir).items()
        if sha1_hex(path.read_bytes()) != oid
    ]
    assert not bad, "block files whose content is not their id:\n" + "\n".join(bad)

    srv.stop()
    res = srv.fsck()
    assert res.returncode == 0, f"fsck failed:\n{res.stdout}\n{res.stderr}"
