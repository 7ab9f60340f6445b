"""Real `sesame serve` subprocess fixtures plus a small api2/seafhttp client for e2e tests."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from sesamedisk.adapters.objects.verifying import content_matches
from sesamedisk.ports.objects import ObjectKind

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS_ROOT = REPO_ROOT / "test-artifacts"
SHARED_DIR = REPO_ROOT.parent / "shared"
SEAFILE_FIXTURES = SHARED_DIR / "fixtures" / "seafile-client"

ADMIN_EMAIL = "user@example.com"  # the fixture's modifier: needed for byte-identical fs ids
ADMIN_PASSWORD = "admin-Pa55word-e2e"
HEX40 = re.compile(r"^[0-9a-f]{40}$")
EMPTY_ID = "0" * 40


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _sesame_argv() -> list[str]:
    script = Path(sys.executable).parent / "sesame"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "sesamedisk.cli"]


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")[:120] or "test"


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Remember each phase's report on the item so fixtures can tell pass from failure."""
    rep = yield
    setattr(item, f"rep_{rep.when}", rep)
    return rep


def node_failed(request: pytest.FixtureRequest) -> bool:
    """True when the setup or call phase of the requesting test failed."""
    for when in ("setup", "call"):
        rep = getattr(request.node, f"rep_{when}", None)
        if rep is not None and rep.failed:
            return True
    return False


@pytest.fixture
def artifacts_dir(request: pytest.FixtureRequest) -> Path:
    """test-artifacts/<test name>/ under the repository root, emptied at test start."""
    path = ARTIFACTS_ROOT / _safe_name(request.node.name)
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass
class SesameServer:
    """One `sesame serve` process tree bound to 127.0.0.1; restartable on the same port+data."""

    data_dir: Path
    log_path: Path
    database_url: str | None
    config: Path | None = None
    """A TOML config file passed as --config to serve and every cli call."""
    extra_env: dict[str, str] = field(default_factory=dict)
    """SESAMEDISK_* overrides for serve and every cli call."""
    port: int = field(default_factory=_free_port)
    admin_email: str = ADMIN_EMAIL
    admin_password: str = ADMIN_PASSWORD
    proc: subprocess.Popen[bytes] | None = None
    _log: Any = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None, "server is not running"
        return self.proc.pid

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.pop("SESAMEDISK_DATABASE_URL", None)
        if self.database_url is not None:
            env["SESAMEDISK_DATABASE_URL"] = self.database_url
        env["SESAMEDISK_ADMIN_EMAIL"] = self.admin_email
        env["SESAMEDISK_ADMIN_PASSWORD"] = self.admin_password
        env["PYTHONUNBUFFERED"] = "1"
        env.update(self.extra_env)
        return env

    def _db_args(self) -> list[str]:
        args = ["--data", str(self.data_dir)]
        if self.config is not None:
            args += ["--config", str(self.config)]
        if self.database_url is not None:
            args += ["--database-url", self.database_url]
        return args

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def start(self, timeout: float = 60.0) -> None:
        """Start (or restart) the server and wait until /api2/ping/ answers "pong"."""
        assert self.proc is None or self.proc.poll() is not None, "server already running"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self._log is not None:
            self._log.close()
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()/kill()
        self.starts += 1
        self._log.write(f"\n===== start #{self.starts} port={self.port} =====\n".encode())
        self._log.flush()
        argv = [*_sesame_argv(), "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        argv += self._db_args()
        self.proc = subprocess.Popen(
            argv,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=self._env(),
            cwd=str(self.data_dir.parent),
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"sesame serve exited with {self.proc.returncode} during startup;"
                    f" log tail:\n{self.log_tail()}"
                )
            try:
                r = httpx.get(f"{self.url}/api2/ping/", timeout=2.0)
                if r.status_code == 200 and "pong" in r.text:
                    return
                last = f"{r.status_code} {r.text[:200]!r}"
            except httpx.HTTPError as exc:
                last = repr(exc)
            time.sleep(0.2)
        self.kill(signal.SIGKILL)
        raise AssertionError(
            f"sesame serve did not answer /api2/ping/ within {timeout}s (last: {last});"
            f" log tail:\n{self.log_tail()}"
        )

    def _signal_group(self, sig: int) -> None:
        assert self.proc is not None
        # The process group id is the recorded pid (start_new_session=True): only our tree.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)

    def kill(self, sig: int = signal.SIGKILL, timeout: float = 20.0) -> int | None:
        """Send `sig` to our server process group and wait for the main process to exit."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self._signal_group(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self.proc.wait(timeout=10)
        # Workers that outlived the parent (same group) must not keep the port bound.
        self._signal_group(signal.SIGKILL)
        if self._log is not None:
            self._log.close()
            self._log = None
        return self.proc.returncode

    def stop(self, timeout: float = 15.0) -> int | None:
        """Graceful stop: SIGTERM, then SIGKILL after `timeout` seconds."""
        return self.kill(signal.SIGTERM, timeout=timeout)

    def is_running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def rss_bytes(self) -> int:
        """Resident memory of the server process plus all its children."""
        try:
            root = psutil.Process(self.pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return 0
        total = 0
        for p in procs:
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                total += p.memory_info().rss
        return total

    def cli(self, *args: str, timeout: float = 300.0) -> subprocess.CompletedProcess[str]:
        """Run `sesame <args> --data DIR [--database-url URL]` against this server's storage."""
        argv = [*_sesame_argv(), *args, *self._db_args()]
        res = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self._env(),
            check=False,
            stdin=subprocess.DEVNULL,
        )
        with open(self.log_path, "a", encoding="utf-8") as f:
            f.write(f"\n===== cli {args!r} -> rc={res.returncode}\n{res.stdout}\n{res.stderr}\n")
        return res

    def spawn_cli(self, *args: str) -> CliProcess:
        """Start `sesame <args>` against this server's storage, without waiting for it."""
        return CliProcess([*args, *self._db_args()], self._env(), self.log_path)

    def create_user(self, email: str, password: str, admin: bool = False) -> None:
        args = ["admin", "create-user", email, "--password", password]
        if admin:
            args.append("--admin")
        res = self.cli(*args)
        assert res.returncode == 0, f"create-user failed: {res.stdout}\n{res.stderr}"

    def fsck(self) -> subprocess.CompletedProcess[str]:
        return self.cli("fsck")

    def data_files(self) -> list[Path]:
        return [p for p in self.data_dir.rglob("*") if p.is_file()]

    def torn_objects(self, since: float = 0.0) -> list[str]:
        """Object files in the data folder whose bytes are not their id (half-written, rotten).

        `since`: only files created (or linked) at or after this time.time() are read.
        """
        kinds = {kind.value: kind for kind in ObjectKind}
        torn = []
        for path in self.data_files():
            kind = kinds.get(path.parent.parent.name)
            if kind is None or path.name.startswith("."):
                continue
            with contextlib.suppress(FileNotFoundError):  # deleted since it was listed
                if path.stat().st_ctime >= since and not content_matches(
                        kind, path.parent.name + path.name, path.read_bytes()):
                    torn.append(str(path.relative_to(self.data_dir)))
        return torn

    def data_size(self) -> int:
        total = 0
        for p in self.data_dir.rglob("*"):
            with contextlib.suppress(OSError):
                if p.is_file():
                    total += p.stat().st_size
        return total


class CliProcess:
    """A `sesame` command in its own process group that says "ready" once it is imported.

    It runs `sesamedisk.cli.main` like the console script; tests that SIGKILL commands at
    random moments wait for "ready" so that the kill lands in the command's work.
    """

    LAUNCHER = ("import sys, sesamedisk.bootstrap, sesamedisk.services.gc, "
                "sesamedisk.services.fsck; from sesamedisk.cli import main; "
                "print('ready', flush=True); sys.exit(main(sys.argv[1:]))")

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.args = args
        self.log_path = log_path
        self.proc = subprocess.Popen(
            [sys.executable, "-c", self.LAUNCHER, *args], stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, env=env,
            start_new_session=True)
        self.ready_at = 0.0
        self.killed = False

    def wait_ready(self) -> None:
        """Block until the command finished importing (or ended)."""
        assert self.proc.stdout is not None
        self.proc.stdout.readline()
        self.ready_at = time.monotonic()

    def kill(self) -> None:
        """SIGKILL the process group if the command still runs (`killed` tells)."""
        self.killed = self.proc.poll() is None
        if self.killed:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)

    def finish(self, timeout: float = 300.0) -> tuple[int, str, str]:
        """Wait for the end; (exit code, stdout, stderr), also appended to the server log."""
        out, err = self.proc.communicate(timeout=timeout)
        with open(self.log_path, "a", encoding="utf-8") as f:
            f.write(f"\n===== spawned {self.args[:1]!r} (killed: {self.killed}) -> "
                    f"rc={self.proc.returncode}\n{out}\n{err}\n")
        return self.proc.returncode, out, err


@pytest.fixture
def sesame_server_factory(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    database_url: str,
    artifacts_dir: Path,
) -> Iterator[Callable[..., SesameServer]]:
    """Factory for started servers; the sqlite param uses the server's embedded default DB."""
    servers: list[SesameServer] = []
    url = None if database_url.startswith("sqlite") else database_url

    def make(name: str = "server", start: bool = True, config: Path | None = None,
             extra_env: dict[str, str] | None = None) -> SesameServer:
        srv = SesameServer(
            data_dir=tmp_path / f"{name}-data",
            log_path=artifacts_dir / f"{name}.log",
            database_url=url,
            config=config,
            extra_env=extra_env or {},
        )
        servers.append(srv)
        if start:
            srv.start()
        return srv

    yield make
    for srv in servers:
        srv.stop()
    if not node_failed(request):
        for srv in servers:
            shutil.rmtree(srv.data_dir, ignore_errors=True)


@pytest.fixture
def sesame_server(sesame_server_factory: Callable[..., SesameServer]) -> SesameServer:
    """A started server with the admin account (user@example.com)."""
    return sesame_server_factory()


# --------------------------------------------------------------------------- protocol helpers


def parse_pack(body: bytes) -> dict[str, bytes]:
    """Parse a pack-fs/recv-fs body into {id: decompressed JSON bytes}."""
    out: dict[str, bytes] = {}
    pos = 0
    while pos < len(body):
        assert len(body) - pos >= 44, f"truncated pack header at {pos}"
        oid = body[pos : pos + 40].decode("ascii")
        (n,) = struct.unpack(">I", body[pos + 40 : pos + 44])
        data = body[pos + 44 : pos + 44 + n]
        assert len(data) == n, f"truncated pack object {oid}"
        out[oid] = zlib.decompress(data)
        pos += 44 + n
    return out


def make_pack(objects: dict[str, bytes]) -> bytes:
    """Frame {id: zlib bytes} as a recv-fs body."""
    return b"".join(
        oid.encode("ascii") + struct.pack(">I", len(data)) + data for oid, data in objects.items()
    )


class SesameApi:
    """Thin httpx wrapper for api2, /api/v1 and the /seafhttp sync protocol."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = httpx.Client(base_url=base_url, timeout=120.0)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> SesameApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- api2
    def login(self, email: str, password: str) -> str:
        r = self.http.post("/api2/auth-token/", data={"username": email, "password": password})
        assert r.status_code == 200, f"login {email}: {r.status_code} {r.text}"
        return str(r.json()["token"])

    def create_repo(self, token: str, name: str, passwd: str | None = None) -> dict[str, Any]:
        form = {"name": name, "desc": ""}
        if passwd is not None:
            form["passwd"] = passwd
        r = self.http.post("/api2/repos/", data=form, headers=_auth(token))
        assert r.status_code in (200, 201), f"create repo: {r.status_code} {r.text}"
        return dict(r.json())

    def list_repos(self, token: str) -> list[dict[str, Any]]:
        r = self.http.get("/api2/repos/", headers=_auth(token))
        assert r.status_code == 200, f"list repos: {r.status_code} {r.text}"
        return list(r.json())

    def download_info(self, token: str, repo_id: str) -> dict[str, Any]:
        r = self.http.get(f"/api2/repos/{repo_id}/download-info/", headers=_auth(token))
        assert r.status_code == 200, f"download-info: {r.status_code} {r.text}"
        return dict(r.json())

    def repo_token(self, token: str, repo_id: str) -> str:
        return str(self.download_info(token, repo_id)["token"])

    def delete_repo(self, token: str, repo_id: str) -> httpx.Response:
        return self.http.delete(f"/api2/repos/{repo_id}/", headers=_auth(token))

    def put_file(self, token: str, repo_id: str, path: str, data: bytes) -> httpx.Response:
        return self.http.put(
            f"/api/v1/repos/{repo_id}/file", params={"p": path}, content=data,
            headers=_auth(token),
        )

    # ---- seafhttp
    def head(self, repo_id: str, rtoken: str) -> str:
        r = self.http.get(f"/seafhttp/repo/{repo_id}/commit/HEAD", headers=_rt(rtoken))
        assert r.status_code == 200, f"GET HEAD: {r.status_code} {r.text}"
        body = r.json()
        assert body.get("is_corrupted") in (0, False), body
        return str(body["head_commit_id"])

    def commit(self, repo_id: str, rtoken: str, cid: str) -> dict[str, Any]:
        r = self.http.get(f"/seafhttp/repo/{repo_id}/commit/{cid}", headers=_rt(rtoken))
        assert r.status_code == 200, f"GET commit {cid}: {r.status_code} {r.text}"
        return dict(r.json())

    def fs_id_list(self, repo_id: str, rtoken: str, server_head: str) -> list[str]:
        r = self.http.get(
            f"/seafhttp/repo/{repo_id}/fs-id-list/",
            params={"server-head": server_head},
            headers=_rt(rtoken),
        )
        assert r.status_code == 200, f"fs-id-list: {r.status_code} {r.text}"
        return list(r.json())

    def pack_fs(self, repo_id: str, rtoken: str, ids: list[str]) -> dict[str, bytes]:
        out: dict[str, bytes] = {}
        for i in range(0, len(ids), 100):
            r = self.http.post(
                f"/seafhttp/repo/{repo_id}/pack-fs/", content=_json(ids[i : i + 100]),
                headers=_rt(rtoken),
            )
            assert r.status_code == 200, f"pack-fs: {r.status_code} {r.text[:300]}"
            out.update(parse_pack(r.content))
        return out

    def check_blocks(self, repo_id: str, rtoken: str, ids: list[str]) -> list[str]:
        r = self.http.post(
            f"/seafhttp/repo/{repo_id}/check-blocks/", content=_json(ids), headers=_rt(rtoken)
        )
        assert r.status_code == 200, f"check-blocks: {r.status_code} {r.text}"
        return list(r.json())

    def check_fs(self, repo_id: str, rtoken: str, ids: list[str]) -> list[str]:
        r = self.http.post(
            f"/seafhttp/repo/{repo_id}/check-fs/", content=_json(ids), headers=_rt(rtoken)
        )
        assert r.status_code == 200, f"check-fs: {r.status_code} {r.text}"
        return list(r.json())

    def get_block(self, repo_id: str, rtoken: str, bid: str) -> bytes:
        r = self.http.get(f"/seafhttp/repo/{repo_id}/block/{bid}", headers=_rt(rtoken))
        assert r.status_code == 200, f"GET block {bid}: {r.status_code} {r.text[:200]}"
        return r.content

    def tree(self, repo_id: str, rtoken: str) -> dict[str, dict[str, Any]]:
        """Walk the HEAD tree: {"/path": fs object dict (+"mode", "id")} for files and dirs."""
        head = self.head(repo_id, rtoken)
        root = str(self.commit(repo_id, rtoken, head)["root_id"])
        ids = self.fs_id_list(repo_id, rtoken, head)
        objs = {oid: _loads(raw) for oid, raw in self.pack_fs(repo_id, rtoken, ids).items()}
        out: dict[str, dict[str, Any]] = {}

        def walk(dir_id: str, prefix: str) -> None:
            if dir_id == EMPTY_ID:
                return
            for d in objs[dir_id]["dirents"]:
                path = f"{prefix}/{d['name']}"
                obj = dict(objs.get(d["id"], {"type": 1, "block_ids": [], "size": 0}))
                obj.update(id=d["id"], mode=d["mode"])
                out[path] = obj
                if d["mode"] & 0o170000 == 0o040000:
                    walk(d["id"], path)

        walk(root, "")
        return out


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Token {token}"}


def _rt(rtoken: str) -> dict[str, str]:
    return {"Seafile-Repo-Token": rtoken}


def _json(obj: object) -> bytes:
    return json.dumps(obj).encode()


def _loads(raw: bytes) -> dict[str, Any]:
    return dict(json.loads(raw))


def sha1_hex(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()
