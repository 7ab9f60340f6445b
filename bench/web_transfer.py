"""Web API transfers of sesamedisk against nginx: resumable upload, download, folder listing.

* upload: a file through `POST /api/v1/repos/<id>/uploads` + `PUT /api/v1/uploads/<uid>`
  in 64 MiB Content-Range chunks (server-side FastCDC, SHA-1 block ids, fsync'ed blocks)
  vs nginx accepting the same bytes as one WebDAV PUT (no fsync); the page cache is synced
  before each timed upload so neither server pays for the other's dirty pages, and the
  servers' CPU seconds per GiB are reported;
* download: `GET /api/v1/repos/<id>/file?p=` vs nginx serving the same bytes, in the same
  page-cache state: first once from disk ("cold": each server's files are evicted from the
  page cache just before its download), then three alternated downloads with every file
  cached ("warm", their median kept: one takes only a quarter second). Ours writes uploaded
  blocks around the page cache, nginx through it, so without the cold round a download
  right after the upload would compare our disk with nginx's memory. And, for information,
  the minimal ASGI app of `baselines` (uvicorn, 1 MiB reads) serving nginx's very file: how
  close a Python server gets to nginx on this machine at all;
* listing: p50/p95 of `GET /api/v1/repos/<id>/dir?p=` on a folder of 1000 entries
  (target: p95 < 300 ms).

Repetitions are interleaved (ours, then nginx, per repetition); ratios are medians of the
per-repetition ratios (bench/README.md).
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import http.client
import json
import os
import random
import shlex
import shutil
import statistics
import struct
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import baselines
from benchlib import (
    RssSampler,
    ServerProcess,
    SetupError,
    cpu_seconds,
    fmt_range,
    free_port,
    median_range,
    pin_env,
    terminate_on_sigterm,
)

MIB = 1024 * 1024
GIB = 1024 * MIB
CHUNK = 64 * MIB
ADMIN_EMAIL = "bench@example.com"
ADMIN_PASSWORD = "bench-password-not-secret"
LISTING_TARGET_MS = 300.0
DOWNLOADS_PER_REP = 3
"""Downloads of each server per repetition, alternated; the repetition keeps their median."""


class Content:
    """A file of `size` bytes: a 64 MiB random base, each MiB stamped with (rep, index)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.base = random.Random(7).randbytes(64 * MIB)
        self.buffer = bytearray(CHUNK)

    def chunk(self, rep: int, first: int) -> memoryview:
        """Bytes [first, first + 64 MiB) of repetition `rep`'s file, in a reused buffer."""
        length = min(CHUNK, self.size - first)
        offset = first % len(self.base)
        take = min(length, len(self.base) - offset)
        self.buffer[:take] = self.base[offset:offset + take]
        self.buffer[take:length] = self.base[:length - take]
        for mib in range(0, length, MIB):
            self.buffer[mib:mib + 16] = struct.pack(">8sII", b"webbench", rep, (first + mib) // MIB)
        return memoryview(self.buffer)[:length]

    def chunks(self, rep: int) -> Iterator[tuple[int, memoryview]]:
        """(offset, bytes) of every 64 MiB chunk."""
        for first in range(0, self.size, CHUNK):
            yield first, self.chunk(rep, first)


def _request(port: int, method: str, path: str, body: Any = None,
             headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def _json(port: int, method: str, path: str, headers: dict[str, str], *,
          value: Any = None, form: dict[str, str] | None = None) -> Any:
    if form is not None:
        body: Any = urllib.parse.urlencode(form)
        headers = {**headers, "Content-Type": "application/x-www-form-urlencoded"}
    else:
        body = None if value is None else json.dumps(value)
    status, text = _request(port, method, path, body, headers)
    if not 200 <= status < 300:
        raise RuntimeError(f"{method} {path} -> {status} {text[:200]!r}")
    return json.loads(text) if text else None


def start_ours(work: Path, ours_cmd: str | None = None
               ) -> tuple[ServerProcess, int, dict[str, str], str]:
    """`sesame serve` (or `ours_cmd`) on a fresh data folder; (process, port, auth, library)."""
    port = free_port()
    script = Path(sys.executable).parent / "sesame"
    if ours_cmd:
        argv = shlex.split(ours_cmd)
    else:
        argv = [str(script)] if script.exists() else [sys.executable, "-m", "sesamedisk.cli"]
    ours = ServerProcess("sesame serve", [*argv, "serve", "--host", "127.0.0.1", "--port",
                                          str(port), "--data", str(work / "sesame-data")],
                         work / "sesame.log", env=pin_env({
                             "SESAMEDISK_ADMIN_EMAIL": ADMIN_EMAIL,
                             "SESAMEDISK_ADMIN_PASSWORD": ADMIN_PASSWORD,
                             "SESAMEDISK_LOG_LEVEL": "WARNING"}), cwd=work)
    ours.wait_http(port, timeout=60)
    token = _json(port, "POST", "/api2/auth-token/", {},
                  form={"username": ADMIN_EMAIL, "password": ADMIN_PASSWORD})["token"]
    auth = {"Authorization": f"Token {token}"}
    repo = _json(port, "POST", "/api2/repos/", auth, form={"name": "bench", "desc": ""})
    return ours, port, auth, str(repo["repo_id"])


def start_nginx(work: Path) -> tuple[ServerProcess, int]:
    """nginx with the shared baseline config (WebDAV PUT under /seafhttp/)."""
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
    nginx.wait_http(port)
    return nginx, port


def start_asgi(work: Path, nginx_root: Path) -> tuple[ServerProcess, int]:
    """The minimal ASGI app (uvicorn, 1 MiB reads) serving nginx's files: a Python ceiling."""
    port = free_port()
    asgi = ServerProcess("minimal ASGI (uvicorn)", baselines.asgi_command(sys.executable, port),
                         work / "asgi.log", env=pin_env({baselines.ROOT_ENV: str(nginx_root)}),
                         cwd=work)
    asgi.wait_http(port)
    return asgi, port


def asgi_name(rep: int) -> str:
    """The 40-hex name under which the minimal ASGI app serves repetition `rep`'s file."""
    return hashlib.sha1(f"bench-{rep}".encode()).hexdigest()


def forget_files(work: Path, nginx_files: Path, rep: int) -> None:
    """Delete what both servers stored for `rep` (outside the timed window): the next
    uploads then write into recycled page-cache pages, as on a server whose cache is full.

    Our blocks are removed straight from the data folder; the file they made is never read
    again. See bench/README.md, "Page-cache pages".
    """
    (nginx_files / f"bench-{rep}.bin").unlink()
    (nginx_files / asgi_name(rep)).unlink()
    for block in (work / "sesame-data").glob("objects/*/blocks/*/*"):
        if block.stat().st_size > 1024 * 1024:
            block.unlink()


def upload_ours(port: int, auth: dict[str, str], repo: str, content: Content,
                rep: int) -> float:
    """Seconds to upload repetition `rep`'s file through the resumable uploads API."""
    started = time.perf_counter()
    session = _json(port, "POST", f"/api/v1/repos/{repo}/uploads", auth,
                    value={"path": f"/bench-{rep}.bin", "size": content.size})
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    try:
        for first, data in content.chunks(rep):
            conn.request("PUT", f"/api/v1/uploads/{session['id']}", body=data, headers={
                **auth, "Content-Range": f"bytes {first}-{first + len(data) - 1}/{content.size}",
                "Content-Length": str(len(data))})
            response = conn.getresponse()
            text = response.read()
            if response.status not in (200, 201):
                raise RuntimeError(f"PUT chunk at {first} -> {response.status} {text[:200]!r}")
    finally:
        conn.close()
    return time.perf_counter() - started


def upload_nginx(port: int, content: Content, rep: int) -> float:
    """Seconds for nginx to accept the same bytes as one PUT."""
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    try:
        conn.putrequest("PUT", f"/seafhttp/web/bench-{rep}.bin")
        conn.putheader("Content-Length", str(content.size))
        conn.endheaders()
        for _, data in content.chunks(rep):
            conn.send(data)
        response = conn.getresponse()
        response.read()
        if response.status not in (201, 204):
            raise RuntimeError(f"nginx PUT -> {response.status}")
    finally:
        conn.close()
    return time.perf_counter() - started


def download(port: int, path: str, headers: dict[str, str], size: int) -> float:
    """Seconds to GET `path` fully (read into a reused 4 MiB buffer)."""
    buffer = memoryview(bytearray(4 * MIB))
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        if response.status != 200:
            raise RuntimeError(f"GET {path} -> {response.status} {response.read()[:200]!r}")
        got = 0
        while count := response.readinto(buffer):
            got += count
    finally:
        conn.close()
    if got != size:
        raise RuntimeError(f"GET {path} returned {got} bytes, not {size}")
    return time.perf_counter() - started


def evict(folder: Path) -> None:
    """Drop every file under `folder` from the page cache (written back first)."""
    os.sync()
    for parent, _, names in os.walk(folder):
        for name in names:
            try:
                fd = os.open(os.path.join(parent, name), os.O_RDONLY)
            except OSError:
                continue  # a temp file that went away, or a socket
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def listing_ms(port: int, auth: dict[str, str], repo: str, entries: int,
               samples: int) -> list[float]:
    """Milliseconds per listing of a folder of `entries` files (created first)."""
    for index in range(entries):
        path = urllib.parse.quote(f"/many/file-{index:04d}.txt")
        status, text = _request(port, "PUT", f"/api/v1/repos/{repo}/file?p={path}",
                                f"entry {index}".encode(), auth)
        if status != 201:
            raise RuntimeError(f"PUT file {index} -> {status} {text[:200]!r}")
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        listed = _json(port, "GET", f"/api/v1/repos/{repo}/dir?p=/many", auth)
        times.append((time.perf_counter() - started) * 1000)
        if len(listed) != entries:
            raise RuntimeError(f"listing returned {len(listed)} entries, not {entries}")
    return times


def _ratios(ours: list[float], nginx: list[float]) -> list[float]:
    return [a / b for a, b in zip(ours, nginx, strict=True)]


def run(args: argparse.Namespace, work: Path) -> None:
    """Start both servers, run the interleaved repetitions, print the report."""
    size = args.total_mib * MIB
    content = Content(size)
    ours, port, auth, repo = start_ours(work, args.ours_cmd)
    nginx, nginx_port = start_nginx(work)
    nginx_files = work / "nginx" / "root" / "seafhttp" / "web"
    asgi, asgi_port = start_asgi(work, nginx_files)
    sampler = RssSampler({"ours": ours.pid})
    sampler.start()
    rates: dict[str, list[float]] = {k: [] for k in (
        "up", "nginx_up", "nginx_durable", "down", "nginx_down", "asgi_down", "cold",
        "nginx_cold", "asgi_cold")}
    cpu: dict[str, list[float]] = {"up": [], "nginx_up": [], "down": [], "nginx_down": [],
                                   "asgi_down": []}
    gbps: Callable[[float], float] = lambda seconds: size / seconds / 1e9  # noqa: E731

    def timed_upload(name: str, pid: int, upload: Callable[[], float]) -> None:
        os.sync()  # start clean: nobody pays for the other server's dirty pages
        before = cpu_seconds(pid)
        seconds = upload()
        rates[name].append(gbps(seconds))
        cpu[name].append((cpu_seconds(pid) - before) / (size / GIB))
        if name == "nginx_up":  # the same PUT made durable, as ours is when acknowledged
            started = time.perf_counter()
            os.sync()
            rates["nginx_durable"].append(gbps(seconds + time.perf_counter() - started))

    def timed_download(pid: int, name: str, fetch: Callable[[], float]) -> float:
        before = cpu_seconds(pid)
        rate = gbps(fetch())
        cpu[name].append((cpu_seconds(pid) - before) / (size / GIB))
        return rate

    try:
        for rep in range(args.reps):
            timed_upload("up", ours.pid,
                         lambda r=rep: upload_ours(port, auth, repo, content, r))
            timed_upload("nginx_up", nginx.pid,
                         lambda r=rep: upload_nginx(nginx_port, content, r))
            path = urllib.parse.quote(f"/bench-{rep}.bin")
            os.link(nginx_files / f"bench-{rep}.bin", nginx_files / asgi_name(rep))
            ours_get = functools.partial(download, port, f"/api/v1/repos/{repo}/file?p={path}",
                                         auth, size)
            nginx_get = functools.partial(download, nginx_port,
                                          f"/seafhttp/web/bench-{rep}.bin", {}, size)
            asgi_get = functools.partial(download, asgi_port, f"/{asgi_name(rep)}", {}, size)
            for name, get, files in (("cold", ours_get, work / "sesame-data"),
                                     ("nginx_cold", nginx_get, nginx_files),
                                     ("asgi_cold", asgi_get, nginx_files)):
                evict(files)  # every server reads its blocks from disk once
                rates[name].append(gbps(get()))
            ours_down, nginx_down, asgi_down = [], [], []
            for _ in range(DOWNLOADS_PER_REP):  # downloads are short: alternate a few
                ours_down.append(timed_download(ours.pid, "down", ours_get))
                nginx_down.append(timed_download(nginx.pid, "nginx_down", nginx_get))
                asgi_down.append(timed_download(asgi.pid, "asgi_down", asgi_get))
            rates["down"].append(statistics.median(ours_down))
            rates["nginx_down"].append(statistics.median(nginx_down))
            rates["asgi_down"].append(statistics.median(asgi_down))
            if args.recycle_pages:
                forget_files(work, nginx_files, rep)
            print(f"rep {rep + 1}/{args.reps}: up {rates['up'][-1]:.3f} vs "
                  f"{rates['nginx_up'][-1]:.3f} GB/s, down {rates['down'][-1]:.3f} vs "
                  f"{rates['nginx_down'][-1]:.3f} GB/s", flush=True)
        listing = listing_ms(port, auth, repo, args.entries, args.list_samples)
    finally:
        sampler.stop()
        asgi.stop()
        nginx.stop()
        ours.stop()
    p95 = statistics.quantiles(listing, n=20)[18]
    print(f"\nweb transfer, {args.total_mib} MiB file, {args.reps} interleaved reps "
          "(GB/s, median [min–max])")
    print(f"  upload   ours (uploads API, 64 MiB chunks) {fmt_range(rates['up'], 3)}")
    print(f"           nginx WebDAV PUT (no fsync)       {fmt_range(rates['nginx_up'], 3)}")
    print(f"           nginx PUT, then sync (durable)    {fmt_range(rates['nginx_durable'], 3)}")
    print(f"  download ours GET …/file                   {fmt_range(rates['down'], 3)}")
    print(f"           nginx GET                         {fmt_range(rates['nginx_down'], 3)}")
    print(f"           minimal ASGI app GET (uvicorn)    {fmt_range(rates['asgi_down'], 3)}")
    print(f"  cold     ours GET …/file (from disk)       {fmt_range(rates['cold'], 3)}")
    print(f"           nginx GET (from disk)             {fmt_range(rates['nginx_cold'], 3)}")
    print(f"           minimal ASGI app GET (from disk)  {fmt_range(rates['asgi_cold'], 3)}")
    print(f"  server CPU seconds per GiB uploaded: ours {fmt_range(cpu['up'])}, "
          f"nginx {fmt_range(cpu['nginx_up'])}")
    print(f"  server CPU seconds per GiB downloaded: ours {fmt_range(cpu['down'])}, "
          f"nginx {fmt_range(cpu['nginx_down'])}")
    print(f"  ratio upload   ours / nginx: {fmt_range(_ratios(rates['up'], rates['nginx_up']))}"
          f"; ours / durable nginx: {fmt_range(_ratios(rates['up'], rates['nginx_durable']))}")
    print(f"  ratio download ours / nginx: "
          f"{fmt_range(_ratios(rates['down'], rates['nginx_down']))}; minimal ASGI / nginx "
          f"(a bare Python server here): "
          f"{fmt_range(_ratios(rates['asgi_down'], rates['nginx_down']))}")
    print(f"  ratio cold download ours / nginx: "
          f"{fmt_range(_ratios(rates['cold'], rates['nginx_cold']))}; minimal ASGI / nginx: "
          f"{fmt_range(_ratios(rates['asgi_cold'], rates['nginx_cold']))}")
    mid, _, _ = median_range(listing)
    verdict = "ok" if p95 < LISTING_TARGET_MS else "OVER TARGET"
    print(f"  listing {args.entries} entries: p50 {mid:.1f} ms, p95 {p95:.1f} ms "
          f"(target < {LISTING_TARGET_MS:.0f} ms: {verdict})")
    print(f"  sesame serve peak RSS: {sampler.peak['ours'] / MIB:.0f} MiB")


def main() -> int:
    """Parse options and run; exit 2 on setup errors, 1 on transfer errors."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--total-mib", type=int, default=1024)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--entries", type=int, default=1000)
    parser.add_argument("--list-samples", type=int, default=100)
    parser.add_argument("--keep", action="store_true", help="keep the temp dir")
    parser.add_argument("--recycle-pages", action="store_true",
                        help="delete each repetition's files afterwards (README: page cache)")
    parser.add_argument("--ours-cmd", default=None,
                        help="run CMD instead of `sesame` (serve options appended): A/B a build")
    args = parser.parse_args()
    restore = terminate_on_sigterm()
    work = Path(tempfile.mkdtemp(prefix="sesame-webbench-"))
    try:
        run(args, work)
    except SetupError as exc:
        print(f"setup failed: {exc}", file=sys.stderr)
        return 2
    except RuntimeError as exc:
        print(f"transfer failed: {exc}", file=sys.stderr)
        return 1
    finally:
        restore()
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
