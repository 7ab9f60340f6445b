"""Sync-protocol block PUT/GET throughput of sesamedisk against nginx and a minimal ASGI app."""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import resource
import shlex
import shutil
import struct
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import baselines
from benchlib import (
    RssSampler,
    ServerProcess,
    SetupError,
    fmt_range,
    free_port,
    median_range,
    pin_env,
    terminate_on_sigterm,
    vm_hwm_bytes,
)

MIB = 1024 * 1024
GB = 1e9
TAG_BYTES = 16
"""The last bytes of each block hold (rep, index), so every repetition uploads new ids."""
HEAD_CHECK = 64 * 1024
"""Downloaded blocks are checked by their tag and their first bytes (all of it with --verify)."""
ADMIN_EMAIL = "bench@example.com"
ADMIN_PASSWORD = "bench-password-not-secret"
DOWNLOAD_GOAL = 0.5
UPLOAD_GOAL = 0.5

Direction = Literal["upload", "download"]


class TransferError(RuntimeError):
    """A PUT or GET of the timed workload failed."""


@dataclass
class Target:
    """One server under test and how its block URLs and stored files are named."""

    key: str
    label: str
    port: int
    prefix: str
    headers: dict[str, str]
    stored_file: Callable[[str], Path] | None = None
    """Where the server keeps an uploaded block, so it can be removed after its turn."""

    def url(self, block_id: str) -> str:
        """The request path of a block."""
        return self.prefix + block_id


@dataclass
class Workload:
    """N blocks of one random base whose last 16 bytes are (rep, index): cheap, unique ids."""

    block_size: int
    blocks: int
    base: bytes = field(repr=False)
    _head: Any = field(repr=False)

    @classmethod
    def random(cls, block_size: int, blocks: int) -> Workload:
        """A fresh random base block; the hash of its fixed part is computed once."""
        base = os.urandom(block_size)
        return cls(block_size, blocks, base, hashlib.sha1(memoryview(base)[:-TAG_BYTES]))

    @staticmethod
    def tag(rep: int, index: int) -> bytes:
        """The 16 bytes that make block `index` of repetition `rep` unique."""
        return struct.pack(">8sII", b"sesbench", rep, index)

    def items(self, rep: int) -> list[tuple[str, bytes]]:
        """(sha1 id, tag) of every block of a repetition."""
        out = []
        for index in range(self.blocks):
            tag = self.tag(rep, index)
            digest = self._head.copy()
            digest.update(tag)
            out.append((digest.hexdigest(), tag))
        return out

    @property
    def total_bytes(self) -> int:
        """Bytes moved per phase."""
        return self.block_size * self.blocks


@dataclass
class Buffers:
    """Per-stream send and receive buffers, allocated and touched once before any timing."""

    send: list[bytearray]
    recv: list[bytearray]

    @classmethod
    def make(cls, workload: Workload, streams: int) -> Buffers:
        """bytearray copies of the base block (so their pages are already faulted in)."""
        return cls([bytearray(workload.base) for _ in range(streams)],
                    [bytearray(workload.base) for _ in range(streams)])


def _put(conn: http.client.HTTPConnection, target: Target, block_id: str,
         body: bytearray) -> None:
    headers = {**target.headers, "Content-Length": str(len(body))}
    conn.request("PUT", target.url(block_id), body=body, headers=headers)
    response = conn.getresponse()
    text = response.read()
    if not 200 <= response.status < 300:
        raise TransferError(f"{target.label}: PUT {block_id} -> {response.status} "
                            f"{text[:200]!r}")


def _get(conn: http.client.HTTPConnection, target: Target, block_id: str, tag: bytes,
         buf: bytearray, *, base: bytes, verify: bool) -> None:
    conn.request("GET", target.url(block_id), headers=target.headers)
    response = conn.getresponse()
    if response.status != 200:
        raise TransferError(f"{target.label}: GET {block_id} -> {response.status} "
                            f"{response.read()[:200]!r}")
    size = len(buf)
    if response.length != size:
        raise TransferError(f"{target.label}: GET {block_id} has length {response.length}")
    view = memoryview(buf)
    got = 0
    while got < size:
        count = response.readinto(view[got:])
        if not count:
            raise TransferError(f"{target.label}: GET {block_id} ended after {got} bytes")
        got += count
    if view[-TAG_BYTES:] != tag or view[:HEAD_CHECK] != memoryview(base)[:HEAD_CHECK]:
        raise TransferError(f"{target.label}: GET {block_id} returned other bytes")
    if verify and hashlib.sha1(view).hexdigest() != block_id:
        raise TransferError(f"{target.label}: GET {block_id} does not hash to its id")


def transfer(target: Target, direction: Direction, items: Sequence[tuple[str, bytes]],
             buffers: Buffers, base: bytes, *, verify: bool = False) -> float:
    """Move every block with one thread and one keep-alive connection per stream; seconds.

    Connections are opened before the clock starts; the clock stops when the last response
    has been read.
    """
    streams = len(buffers.send)
    lock = threading.Lock()
    next_item = iter(items)
    errors: list[BaseException] = []
    failed = threading.Event()
    ready = threading.Barrier(streams + 1)

    def worker(slot: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", target.port, timeout=300)
        try:
            conn.connect()
        except BaseException as exc:
            errors.append(exc)
            failed.set()
        try:
            ready.wait()
            send, recv = buffers.send[slot], buffers.recv[slot]
            while not failed.is_set():
                with lock:
                    item = next(next_item, None)
                if item is None:
                    return
                block_id, tag = item
                if direction == "upload":
                    send[-TAG_BYTES:] = tag
                    _put(conn, target, block_id, send)
                else:
                    _get(conn, target, block_id, tag, recv, base=base, verify=verify)
        except BaseException as exc:
            errors.append(exc)
            failed.set()
        finally:
            conn.close()

    threads = [threading.Thread(target=worker, args=(slot,), name=f"stream-{slot}",
                                daemon=True) for slot in range(streams)]
    for thread in threads:
        thread.start()
    ready.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise errors[0]
    return elapsed


def _post_form(port: int, path: str, form: dict[str, str],
               headers: dict[str, str] | None = None) -> dict[str, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", path, body=urllib.parse.urlencode(form),
                     headers={"Content-Type": "application/x-www-form-urlencoded",
                              **(headers or {})})
        response = conn.getresponse()
        text = response.read()
    finally:
        conn.close()
    if response.status != 200:
        raise SetupError(f"POST {path} -> {response.status}: {text[:300]!r}")
    value: dict[str, Any] = json.loads(text)
    return value


def prepare_library(port: int) -> tuple[str, str]:
    """Log in and create a library through the real API; (repo_id, sync token)."""
    api_token = _post_form(port, "/api2/auth-token/",
                           {"username": ADMIN_EMAIL, "password": ADMIN_PASSWORD})["token"]
    repo = _post_form(port, "/api2/repos/", {"name": "bench", "desc": ""},
                      {"Authorization": f"Token {api_token}"})
    if not repo.get("repo_id") or not repo.get("token"):
        raise SetupError(f"POST /api2/repos/ did not return repo_id and token: {repo}")
    return str(repo["repo_id"]), str(repo["token"])


@dataclass
class Servers:
    """The three servers of a run and what is needed to tear them down."""

    processes: list[ServerProcess] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    ours: ServerProcess | None = None

    def stop(self) -> None:
        """Stop every started process by its PID (last started first)."""
        for process in reversed(self.processes):
            try:
                process.stop()
            except Exception as exc:  # keep stopping the others
                print(f"warning: could not stop {process.name} (pid {process.pid}): {exc}",
                      file=sys.stderr)


def _sesame_argv(ours_cmd: str | None) -> list[str]:
    if ours_cmd:
        return shlex.split(ours_cmd)
    script = Path(sys.executable).parent / "sesame"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "sesamedisk.cli"]


def _start_ours(work: Path, servers: Servers, ours_cmd: str | None) -> str:
    """`sesame serve` on a fresh data folder, plus a library made through the API; its prefix."""
    port = free_port()
    ours = ServerProcess(
        "sesame serve", [*_sesame_argv(ours_cmd), "serve", "--host", "127.0.0.1",
                         "--port", str(port), "--data", str(work / "sesame-data")],
        work / "sesame.log",
        env=pin_env({"SESAMEDISK_ADMIN_EMAIL": ADMIN_EMAIL,
                     "SESAMEDISK_ADMIN_PASSWORD": ADMIN_PASSWORD,
                     "SESAMEDISK_LOG_LEVEL": "WARNING"}),
        cwd=work)
    servers.processes.append(ours)
    servers.ours = ours
    ours.wait_http(port, timeout=60)
    repo_id, sync_token = prepare_library(port)
    prefix = f"/seafhttp/repo/{repo_id}/block/"
    # LocalObjectStore layout: objects/<library>/blocks/<id[:2]>/<id[2:]>
    blocks = work / "sesame-data" / "objects" / repo_id / "blocks"
    servers.targets.append(Target(
        "ours", "sesamedisk", port, prefix, {"Seafile-Repo-Token": sync_token},
        stored_file=lambda block_id: blocks / block_id[:2] / block_id[2:]))
    return prefix


def _start_nginx(work: Path, servers: Servers, prefix: str) -> None:
    nginx_dir = work / "nginx"
    for sub in ("root", "body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (nginx_dir / sub).mkdir(parents=True)
    port = free_port()
    (nginx_dir / "nginx.conf").write_text(baselines.nginx_config(nginx_dir, port))
    nginx_bin = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx_bin).exists():
        raise SetupError("nginx not found (apt-get install nginx-light)")
    nginx = ServerProcess("nginx", [nginx_bin, "-p", str(nginx_dir), "-c",
                                    str(nginx_dir / "nginx.conf")], work / "nginx.log")
    servers.processes.append(nginx)
    nginx.wait_http(port)
    blocks = nginx_dir / "root" / prefix.strip("/")
    servers.targets.append(Target("nginx", "nginx", port, prefix, {},
                                  stored_file=lambda block_id: blocks / block_id))


def _start_asgi(work: Path, servers: Servers, prefix: str, *, fsync: bool = False) -> None:
    key = "asgi-fsync" if fsync else "asgi"
    root = work / f"{key}-root"
    root.mkdir()
    port = free_port()
    asgi = ServerProcess(
        "minimal ASGI (uvicorn)",
        baselines.asgi_command(sys.executable, port),
        work / f"{key}.log", env=pin_env({baselines.ROOT_ENV: str(root),
                                          baselines.FSYNC_ENV: "1" if fsync else "0"}),
        cwd=work)
    servers.processes.append(asgi)
    asgi.wait_http(port)
    servers.targets.append(Target(key, "minimal ASGI + fsync" if fsync else "minimal ASGI",
                                  port, prefix, {}, stored_file=lambda block_id: root / block_id))


def start_servers(work: Path, servers: Servers, which: Sequence[str],
                  ours_cmd: str | None = None) -> None:
    """Start the chosen servers (ours, nginx, asgi); fill `servers` as they come up."""
    prefix = f"/seafhttp/repo/{uuid.uuid4()}/block/"
    if "ours" in which:
        prefix = _start_ours(work, servers, ours_cmd)
    if "nginx" in which:
        _start_nginx(work, servers, prefix)
    if "asgi" in which:
        _start_asgi(work, servers, prefix)
    if "asgi-fsync" in which:
        _start_asgi(work, servers, prefix, fsync=True)


@dataclass
class Results:
    """GB/s per (server, direction) and repetition."""

    speeds: dict[tuple[str, Direction], list[float]] = field(default_factory=dict)

    def add(self, key: str, direction: Direction, gbps: float) -> None:
        """Record one phase."""
        self.speeds.setdefault((key, direction), []).append(gbps)

    def get(self, key: str, direction: Direction) -> list[float]:
        """Per-repetition GB/s."""
        return self.speeds.get((key, direction), [])

    def ratios(self, num: tuple[str, Direction], den: tuple[str, Direction]) -> list[float]:
        """Per-repetition ratios (only repetitions where both were measured)."""
        return [a / b for a, b in zip(self.get(*num), self.get(*den), strict=False) if b > 0]


ROW_LABELS: dict[tuple[str, Direction], str] = {
    ("ours", "upload"): "sesamedisk PUT block (sha1 check + fsync)",
    ("ours", "download"): "sesamedisk GET block",
    ("nginx", "upload"): "nginx WebDAV PUT (no fsync)",
    ("nginx", "download"): "nginx GET (sendfile off, 2×1m)",
    ("asgi", "upload"): "minimal ASGI PUT → file (no fsync)",
    ("asgi", "download"): "minimal ASGI GET (1 MiB reads)",
    ("asgi-fsync", "upload"): "minimal ASGI PUT → file + fsync",
    ("asgi-fsync", "download"): "minimal ASGI + fsync GET (same)",
}
RATIOS: list[tuple[str, tuple[str, Direction], tuple[str, Direction], float | None]] = [
    ("ours download / nginx download", ("ours", "download"), ("nginx", "download"),
     DOWNLOAD_GOAL),
    ("ours upload / minimal-ASGI upload", ("ours", "upload"), ("asgi", "upload"), UPLOAD_GOAL),
    ("ours upload / nginx PUT", ("ours", "upload"), ("nginx", "upload"), None),
    ("ours download / minimal-ASGI download", ("ours", "download"), ("asgi", "download"), None),
    ("ours upload / minimal-ASGI+fsync upload", ("ours", "upload"), ("asgi-fsync", "upload"),
     None),
]


def remove_blocks(target: Target, items: Sequence[tuple[str, bytes]]) -> None:
    """Delete the blocks a server stored in this turn (untimed), straight from its disk.

    Every server gets this after its turn, so each upload writes into page-cache pages that
    were freed a moment ago. Without it, a server that keeps its blocks makes the next
    uploads use never-touched guest pages, which cost ~3 s of kernel CPU per GiB on this VM
    (README, "Page-cache pages"), and whoever deletes would get an unfair advantage.
    Nothing references these blocks: no commit was made.
    """
    if target.stored_file is None:
        return
    missing = 0
    for block_id, _ in items:
        try:
            target.stored_file(block_id).unlink()
        except FileNotFoundError:
            missing += 1
    if missing:
        raise TransferError(f"{target.label}: {missing} uploaded blocks are not where the "
                            "benchmark expects them; fix stored_file or use --keep-blocks")


def run_reps(targets: Sequence[Target], workload: Workload, buffers: Buffers, *, reps: int,
             verify: bool, results: Results,
             directions: Sequence[Direction] = ("upload", "download"),
             keep_blocks: bool = False) -> None:
    """Interleaved repetitions: each one runs upload then download on every server in turn.

    The starting server rotates with the repetition, so no server always runs right after
    the same other one. Each repetition uploads new ids (same bytes and names everywhere).
    """
    for rep in range(reps):
        items = workload.items(rep)
        order = [targets[(rep + i) % len(targets)] for i in range(len(targets))]
        parts = []
        for target in order:
            for direction in directions:
                seconds = transfer(target, direction, items, buffers, workload.base,
                                   verify=verify)
                gbps = workload.total_bytes / seconds / GB
                results.add(target.key, direction, gbps)
                parts.append(f"{target.key} {direction[:2]} {gbps:.2f}")
            if not keep_blocks:
                remove_blocks(target, items)
        print(f"rep {rep + 1}/{reps}: " + ", ".join(parts) + " GB/s", flush=True)


def _print_report(results: Results, workload: Workload, *, streams: int, reps: int,
                  rss: dict[str, str], elapsed: float) -> None:
    print()
    print(f"seafhttp block throughput: {workload.blocks} blocks × "
          f"{workload.block_size // MIB} MiB = {workload.total_bytes / MIB:.0f} MiB per phase, "
          f"{streams} streams, {reps} interleaved reps, client on the same "
          f"{os.cpu_count()} cores; {elapsed:.0f} s")
    print()
    print(f"{'server / route':<44} {'GB/s median [min–max]':>24}")
    for key, label in ROW_LABELS.items():
        values = results.get(*key)
        if values:
            print(f"{label:<44} {fmt_range(values):>24}")
    verdicts = []
    for index, (label, num, den, goal) in enumerate(r for r in RATIOS if results.ratios(*r[1:3])):
        values = results.ratios(num, den)
        if index == 0:
            print()
            print(f"{'ratio (median of per-rep ratios)':<44} {'median [min–max]':>24}   goal")
        goal_text = f"≥ {goal:.2f}" if goal is not None else "info"
        print(f"{label:<44} {fmt_range(values):>24}   {goal_text}")
        if goal is not None:
            mid = median_range(values)[0]
            verdicts.append((label, mid, goal))
    if verdicts:
        print()
    for label, mid, goal in verdicts:
        print(f"{'PASS' if mid >= goal else 'FAIL'}: {label} = {mid:.2f} (goal ≥ {goal:.2f})")
    print()
    for line in rss.values():
        print(line)


def _rss_lines(sampler: RssSampler, servers: Servers) -> dict[str, str]:
    lines = {}
    for process in servers.processes:
        peak = sampler.peak.get(process.name, 0)
        first = sampler.first.get(process.name, 0)
        hwm = vm_hwm_bytes(process.pid)
        hwm_text = f", kernel VmHWM {hwm / MIB:.0f} MiB" if hwm is not None else ""
        lines[process.name] = (f"peak RSS {process.name} (pid {process.pid}): "
                               f"{peak / MIB:.0f} MiB sampled every 20 ms{hwm_text} "
                               f"(at start {first / MIB:.0f} MiB)")
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    lines["client"] = f"peak RSS of this benchmark (the client): {own / MIB:.0f} MiB"
    return lines


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--total-mib", type=int, default=1024,
                        help="bytes per phase, in MiB (default 1024)")
    parser.add_argument("--block-mib", type=int, default=8, help="block size (default 8 MiB)")
    parser.add_argument("--reps", type=int, default=5, help="repetitions (default 5)")
    parser.add_argument("--streams", type=int, default=3,
                        help="concurrent connections, as seaf-daemon (default 3)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: 128 MiB and 2 repetitions")
    parser.add_argument("--verify", action="store_true",
                        help="sha1 every downloaded block (costs client CPU, lowers numbers)")
    parser.add_argument("--tmp-dir", type=Path, default=None,
                        help="where the temp data lives (default: the system temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, data)")
    parser.add_argument("--servers", default="ours,nginx,asgi,asgi-fsync",
                        help="comma-separated subset of ours,nginx,asgi,asgi-fsync "
                             "(default: all four)")
    parser.add_argument("--keep-blocks", action="store_true",
                        help="do not delete each server's blocks after its turn (uploads then "
                             "write into fresh pages: see README)")
    parser.add_argument("--upload-only", action="store_true",
                        help="skip the downloads (e.g. while profiling the upload path)")
    parser.add_argument("--ours-cmd", default=None,
                        help="command to run instead of `sesame` (serve options are appended),"
                             " e.g. to A/B a patched build")
    parser.add_argument("--json", type=Path, default=None,
                        help="also write the per-repetition numbers to this JSON file")
    args = parser.parse_args(argv)
    if args.quick:
        args.total_mib, args.reps = 128, 2
    if args.block_mib < 1 or args.total_mib < args.block_mib or args.reps < 1 \
            or args.streams < 1:
        parser.error("need block-mib ≥ 1, total-mib ≥ block-mib, reps ≥ 1, streams ≥ 1")
    args.servers = [name.strip() for name in args.servers.split(",") if name.strip()]
    if not args.servers or not set(args.servers) <= {"ours", "nginx", "asgi", "asgi-fsync"}:
        parser.error("--servers takes a comma-separated subset of ours,nginx,asgi,asgi-fsync")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; 0 after printing the report, 2 when setup fails."""
    args = parse_args(argv)
    restore_sigterm = terminate_on_sigterm()
    work = Path(tempfile.mkdtemp(prefix="sesame-bench-", dir=args.tmp_dir))
    servers = Servers()
    sampler: RssSampler | None = None
    try:
        try:
            start_servers(work, servers, args.servers, args.ours_cmd)
        except (SetupError, OSError) as exc:
            print(f"setup failed: {exc}", file=sys.stderr)
            return 2
        block_size = args.block_mib * MIB
        workload = Workload.random(block_size, args.total_mib * MIB // block_size)
        buffers = Buffers.make(workload, args.streams)
        print("servers: " + ", ".join(f"{p.name} pid {p.pid}" for p in servers.processes)
              + f"; temp dir {work}", flush=True)
        sampler = RssSampler({p.name: p.pid for p in servers.processes})
        sampler.start()
        results = Results()
        started = time.perf_counter()
        try:
            run_reps(servers.targets, workload, buffers, reps=args.reps, verify=args.verify,
                     results=results,
                     directions=("upload",) if args.upload_only else ("upload", "download"),
                     keep_blocks=args.keep_blocks)
        except (TransferError, OSError, http.client.HTTPException) as exc:
            print(f"transfer failed: {exc!r}", file=sys.stderr)
            if servers.ours is not None:
                print(servers.ours.log_tail(), file=sys.stderr)
            return 1
        elapsed = time.perf_counter() - started
        sampler.stop()
        _print_report(results, workload, streams=args.streams, reps=args.reps,
                      rss=_rss_lines(sampler, servers), elapsed=elapsed)
        if args.json is not None:
            args.json.write_text(json.dumps({
                "block_bytes": block_size, "blocks": workload.blocks,
                "streams": args.streams, "reps": args.reps,
                "gbps": {f"{k}/{d}": v for (k, d), v in results.speeds.items()},
                "peak_rss_bytes": sampler.peak}, indent=2))
        return 0
    finally:
        if sampler is not None:
            sampler.stop()
        servers.stop()
        restore_sigterm()
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted; servers stopped", file=sys.stderr)
        sys.exit(130)
