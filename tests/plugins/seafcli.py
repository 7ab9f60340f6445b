"""Harness for the real Seafile client (Debian seaf-cli/seaf-daemon 8.0.10): one conf dir each."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.plugins.peers import require_peer
from tests.plugins.server import SHARED_DIR, SesameApi, SesameServer

SEAF_CLI = "/usr/bin/seaf-cli"
SYSTEM_PYTHON = "/usr/bin/python3"  # seaf-cli and python3-seafile live in Debian's python
FIXTURE_TREE = SHARED_DIR / "fixtures" / "seafile-client" / "fixture_tree.py"

T = TypeVar("T")

# Executed by Debian's python3 (which has the `seafile` RPC bindings): a JSON view of the
# daemon's state, a "sync now" trigger and the repo token the daemon stores.
_RPC_SCRIPT = r"""
import json, sys
import seafile
sock, cmd = sys.argv[1], sys.argv[2]
c = seafile.RpcClient(sock)
def err(code):
    try:
        return c.sync_error_id_to_str(code) if code else ""
    except Exception as e:
        return "error %r (%s)" % (code, e)
if cmd == "state":
    out = {"clones": [], "repos": [], "file_errors": []}
    for t in c.get_clone_tasks():
        out["clones"].append({"repo_id": t.repo_id, "repo_name": t.repo_name,
                              "state": t.state, "error": err(t.error) if t.state == "error" else "",
                              "worktree": t.worktree})
    for r in c.get_repo_list(-1, -1):
        t = c.get_repo_sync_task(r.id)
        out["repos"].append({"id": r.id, "name": r.name, "worktree": r.worktree,
                             "head": r.head_cmmt_id, "auto_sync": r.auto_sync,
                             "state": t.state if t else None,
                             "error": err(t.error) if t is not None and t.state == "error" else ""})
    for e in c.get_file_sync_errors(0, 50) or []:
        out["file_errors"].append({"repo_id": e.repo_id, "path": e.path, "error": err(e.err_id)})
    print(json.dumps(out))
elif cmd == "sync":
    print(json.dumps(c.sync(sys.argv[3], None)))
elif cmd == "rate":
    c.set_upload_rate_limit(int(sys.argv[3]))
    c.set_download_rate_limit(int(sys.argv[4]))
    print(json.dumps(True))
elif cmd == "token":
    print(json.dumps(c.get_repo_token(sys.argv[3])))
else:
    raise SystemExit("unknown command " + cmd)
"""


def wait_until(
    predicate: Callable[[], T],
    timeout: float,
    what: str,
    describe: Callable[[], object] | None = None,
    interval: float = 0.5,
) -> T:
    """Poll `predicate` every `interval` s until it returns something truthy; fail with context."""
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while True:
        try:
            value = predicate()
            last_exc = None
            if value:
                return value
        except (OSError, subprocess.SubprocessError, ValueError, KeyError) as exc:
            last_exc = exc
        if time.monotonic() >= deadline:
            detail = describe() if describe is not None else ""
            raise AssertionError(
                f"timed out after {timeout:.0f}s waiting for {what}"
                + (f"; last error: {last_exc!r}" if last_exc else "")
                + (f"\nstate: {detail}" if detail != "" else "")
            )
        time.sleep(interval)


# --------------------------------------------------------------------------- worktree snapshots


@dataclass(frozen=True)
class Entry:
    """One worktree entry: a directory, or a file with its sha256 and permission bits."""

    kind: str  # "file" | "dir"
    sha256: str = ""
    mode: int = 0
    size: int = 0


_HASH_CACHE: dict[tuple[str, int, int, int], str] = {}


def file_sha256(path: Path) -> str:
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns, st.st_ino)
    cached = _HASH_CACHE.get(key)
    if cached is not None:
        return cached
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(4 << 20):
            h.update(chunk)
    digest = h.hexdigest()
    _HASH_CACHE[key] = digest
    return digest


def snapshot(root: Path) -> dict[str, Entry]:
    """{"rel/path": Entry} of everything under `root` (no symlink following)."""
    out: dict[str, Entry] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            p = Path(dirpath) / d
            out[p.relative_to(root).as_posix()] = Entry("dir")
        for fn in filenames:
            p = Path(dirpath) / fn
            st = p.lstat()
            if not stat.S_ISREG(st.st_mode):
                out[p.relative_to(root).as_posix()] = Entry("other", mode=st.st_mode)
                continue
            out[p.relative_to(root).as_posix()] = Entry(
                "file", file_sha256(p), stat.S_IMODE(st.st_mode), st.st_size
            )
    return out


def expected_entries(files: dict[str, bytes | None], modes: dict[str, int] | None = None) -> dict[
    str, Entry
]:
    """Build a snapshot from {path: content or None for a dir}; parent dirs are implied."""
    modes = modes or {}
    out: dict[str, Entry] = {}
    for rel, data in files.items():
        parts = rel.split("/")
        for i in range(1, len(parts)):
            out["/".join(parts[:i])] = Entry("dir")
        if data is None:
            out[rel] = Entry("dir")
        else:
            out[rel] = Entry(
                "file", hashlib.sha256(data).hexdigest(), modes.get(rel, 0o644), len(data)
            )
    return out


def diff_snapshots(got: dict[str, Entry], want: dict[str, Entry], check_mode: bool = True) -> str:
    """Human-readable difference ("" when equal)."""
    lines = []
    for k in sorted(set(got) | set(want)):
        g, w = got.get(k), want.get(k)
        if g is None:
            lines.append(f"missing {k}: want {w}")
        elif w is None:
            lines.append(f"unexpected {k}: {g}")
        elif (g.kind, g.sha256) != (w.kind, w.sha256) or (check_mode and g.mode != w.mode):
            lines.append(f"differs {k}: got {g} want {w}")
    return "\n".join(lines)


def write_fixture_tree(dest: Path) -> None:
    """Recreate the fixture source tree inside `dest` with the shared generator script.

    The tree is generated in a sibling staging dir and renamed into place entry by entry,
    so a watching daemon never indexes half-written files (mtimes survive the rename).
    """
    staging = Path(tempfile.mkdtemp(prefix=".fixture-", dir=dest.parent))
    try:
        subprocess.run(
            [SYSTEM_PYTHON, str(FIXTURE_TREE), "write", str(staging)], check=True, timeout=120
        )
        for entry in sorted(staging.iterdir()):
            os.rename(entry, dest / entry.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def fixture_snapshot() -> dict[str, Entry]:
    """The fixture tree's expected snapshot (paths, sha256, modes, empty dirs)."""
    manifest = json.loads((FIXTURE_TREE.parent / "manifest.json").read_text())
    tree = manifest["source_tree"]
    files = {}
    out: dict[str, Entry] = {}
    for f in tree["files"]:
        rel = f["path"].lstrip("/")
        files[rel] = f
        parts = rel.split("/")
        for i in range(1, len(parts)):
            out["/".join(parts[:i])] = Entry("dir")
        out[rel] = Entry("file", f["sha256"], int(f["mode"], 8), int(f["size"]))
    for d in tree["empty_dirs"]:
        out[d.lstrip("/")] = Entry("dir")
    return out


# --------------------------------------------------------------------------- the client


def _proc_argv(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def _proc_alive(pid: int) -> bool:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return False
    return fields[0] not in ("Z", "X")


class SeafClient:
    """A seaf-cli + seaf-daemon pair with its own HOME, conf dir and data dir."""

    def __init__(self, name: str, root: Path, artifacts: Path) -> None:
        self.name = name
        self.root = root
        self.home = root / "home"
        self.conf = root / "conf"
        self.parent = root / "data"
        self.libs = root / "libs"
        self.artifacts = artifacts
        self.pid: int | None = None
        self.cmd_log = artifacts / f"seafcli-{name}.log"

    @property
    def socket_path(self) -> Path:
        return self.parent / "seafile-data" / "seafile.sock"

    # ---- process plumbing
    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
        env["HOME"] = str(self.home)
        env["PATH"] = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"
        env.pop("CCNET_CONF_DIR", None)
        return env

    def _log_cmd(self, argv: list[str], res: subprocess.CompletedProcess[str]) -> None:
        with open(self.cmd_log, "a", encoding="utf-8") as f:
            f.write(
                f"[{time.strftime('%H:%M:%S')}] $ {' '.join(argv)}\n-> rc={res.returncode}\n"
                f"{res.stdout}{res.stderr}\n"
            )

    def run(
        self, sub: str, *args: str, check: bool = True, timeout: float = 120.0
    ) -> subprocess.CompletedProcess[str]:
        """Run `seaf-cli <sub> -c CONF <args>` with HOME set to this client's home."""
        argv = [SEAF_CLI, sub, "-c", str(self.conf), *args]
        res = subprocess.run(
            argv, capture_output=True, text=True, env=self._env(), timeout=timeout,
            check=False, stdin=subprocess.DEVNULL,
        )
        self._log_cmd(argv, res)
        if check and res.returncode != 0:
            raise AssertionError(
                f"seaf-cli {sub} failed (rc={res.returncode}):\n{res.stdout}\n{res.stderr}"
            )
        return res

    def rpc(self, cmd: str, *args: str, timeout: float = 30.0) -> Any:
        res = subprocess.run(
            [SYSTEM_PYTHON, "-c", _RPC_SCRIPT, str(self.socket_path), cmd, *args],
            capture_output=True, text=True, env=self._env(), timeout=timeout, check=False,
            stdin=subprocess.DEVNULL,
        )
        if res.returncode != 0:
            raise OSError(f"rpc {cmd} failed: {res.stderr.strip()[-800:]}")
        return json.loads(res.stdout)

    def init(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.parent.mkdir(parents=True, exist_ok=True)
        self.libs.mkdir(parents=True, exist_ok=True)
        self.run("init", "-d", str(self.parent))
        assert (self.conf / "seafile.ini").exists(), "seaf-cli init did not write seafile.ini"

    def find_daemon_pid(self) -> int | None:
        """PID of the seaf-daemon whose argv carries exactly our conf dir (via /proc)."""
        conf = str(self.conf)
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            argv = _proc_argv(int(entry.name))
            if not argv or Path(argv[0]).name != "seaf-daemon":
                continue
            for i, a in enumerate(argv[:-1]):
                if a in ("-c", "--config-dir") and argv[i + 1] == conf and _proc_alive(
                    int(entry.name)
                ):
                    return int(entry.name)
        return None

    def _is_ours(self, pid: int) -> bool:
        argv = _proc_argv(pid)
        return bool(argv) and Path(argv[0]).name == "seaf-daemon" and str(self.conf) in argv

    def daemon_alive(self) -> bool:
        return self.pid is not None and _proc_alive(self.pid) and self._is_ours(self.pid)

    def start(self, timeout: float = 30.0) -> None:
        assert not self.daemon_alive(), f"daemon {self.name} already running"
        self.run("start")
        self.pid = wait_until(self.find_daemon_pid, timeout, f"seaf-daemon {self.name} to appear")
        wait_until(lambda: self.rpc("state") is not None, timeout, f"daemon {self.name} RPC")

    def stop(self, timeout: float = 10.0) -> None:
        """seaf-cli stop; then SIGTERM/SIGKILL, only ever to the PID we recorded."""
        if self.pid is None:
            return
        if self.daemon_alive():
            with contextlib.suppress(subprocess.SubprocessError, AssertionError):
                self.run("stop", check=False, timeout=20)
        for sig in (None, signal.SIGTERM, signal.SIGKILL):
            if sig is not None and self.daemon_alive():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, sig)
            deadline = time.monotonic() + timeout
            while self.daemon_alive() and time.monotonic() < deadline:
                time.sleep(0.1)
            if not self.daemon_alive():
                break
        self.pid = None

    def save_logs(self) -> None:
        for name in ("seafile.log", "events.log"):
            src = self.conf / "logs" / name
            if src.exists():
                shutil.copyfile(src, self.artifacts / f"{self.name}-{name}")

    # ---- seaf-cli wrappers
    def config(self, key: str, value: str | None = None) -> str:
        """Get or set a daemon config key (8.0.10 has no sync-interval key: polling stays 30 s)."""
        args = ["-k", key] + (["-v", value] if value is not None else [])
        out = self.run("config", *args).stdout.strip()
        return out.split(" = ", 1)[1] if " = " in out else out

    def create(
        self, server: str, user: str, password: str, name: str, libpasswd: str | None = None
    ) -> str:
        args = ["-s", server, "-u", user, "-p", password, "-n", name, "-t", f"{name} desc"]
        if libpasswd is not None:
            args += ["-e", libpasswd]
        out = self.run("create", *args).stdout.strip().splitlines()
        assert out, "seaf-cli create printed nothing"
        return out[-1].strip()

    def list_remote(self, server: str, user: str, password: str) -> list[dict[str, str]]:
        res = self.run("list-remote", "-s", server, "-u", user, "-p", password, "--json")
        return list(json.loads(res.stdout.strip().splitlines()[-1]))

    def list_local(self) -> list[dict[str, str]]:
        res = self.run("list", "--json")
        return list(json.loads(res.stdout.strip().splitlines()[-1]))

    def download(
        self,
        repo_id: str,
        server: str,
        user: str,
        password: str,
        *,
        libpasswd: str | None = None,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        """`seaf-cli download`: clone into a new folder below this client's libraries dir."""
        return self._fetch("download", repo_id, self.libs, (server, user, password),
                           libpasswd=libpasswd, check=check)

    def sync(
        self,
        repo_id: str,
        folder: Path,
        server: str,
        user: str,
        password: str,
        *,
        libpasswd: str | None = None,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        """`seaf-cli sync`: sync the library with an existing local folder."""
        return self._fetch("sync", repo_id, folder, (server, user, password),
                           libpasswd=libpasswd, check=check)

    def _fetch(self, command: str, repo_id: str, folder: Path,
               login: tuple[str, str, str], *, libpasswd: str | None,
               check: bool) -> subprocess.CompletedProcess[str]:
        server, user, password = login
        args = ["-l", repo_id, "-s", server, "-d", str(folder), "-u", user, "-p", password]
        if libpasswd is not None:
            args += ["-e", libpasswd]
        return self.run(command, *args, check=check)

    def desync(self, folder: Path) -> subprocess.CompletedProcess[str]:
        return self.run("desync", "-d", str(folder))

    def status(self) -> str:
        return self.run("status").stdout

    # ---- daemon state
    def state(self) -> dict[str, Any]:
        return dict(self.rpc("state"))

    def repo(self, repo_id: str) -> dict[str, Any] | None:
        for r in self.state()["repos"]:
            if r["id"] == repo_id:
                return dict(r)
        return None

    def repo_token(self, repo_id: str) -> str:
        return str(self.rpc("token", repo_id))

    def set_rate_limits(self, upload: int, download: int) -> None:
        """Daemon-wide transfer limits in bytes/s (0 = unlimited)."""
        self.rpc("rate", str(upload), str(download))

    def sync_now(self, repo_id: str) -> None:
        self.rpc("sync", repo_id)

    def describe(self) -> str:
        try:
            st = json.dumps(self.state(), indent=1)
        except (OSError, subprocess.SubprocessError, ValueError) as exc:
            st = f"<state unavailable: {exc}>"
        try:
            status = self.status()
        except (OSError, subprocess.SubprocessError, AssertionError) as exc:
            status = f"<seaf-cli status failed: {exc}>"
        log = self.conf / "logs" / "seafile.log"
        tail = log.read_text(errors="replace")[-2500:] if log.exists() else ""
        return f"client {self.name}: {st}\nseaf-cli status:\n{status}\nseafile.log tail:\n{tail}"

    def wait_synchronized(self, repo_id: str, timeout: float = 180.0) -> dict[str, Any]:
        """Wait until the library is a local repo in state "synchronized"; return its state."""

        def check() -> dict[str, Any] | None:
            st = self.state()
            for c in st["clones"]:
                if c["repo_id"] == repo_id and c["state"] == "error":
                    raise AssertionError(f"clone of {repo_id} failed on {self.name}: {c}")
            for r in st["repos"]:
                if r["id"] == repo_id and r["state"] == "synchronized":
                    return dict(r)
            return None

        return wait_until(check, timeout, f"{repo_id} synchronized on {self.name}", self.describe)

    def wait_cloned(self, repo_id: str, timeout: float = 180.0) -> Path:
        """Wait until a download finished; return the worktree path."""
        r = self.wait_synchronized(repo_id, timeout)
        wt = Path(r["worktree"])
        assert wt.is_dir(), f"worktree {wt} missing"
        return wt

    def wait_tree(
        self,
        worktree: Path,
        want: dict[str, Entry],
        timeout: float = 180.0,
        check_mode: bool = True,
    ) -> None:
        """Wait until the worktree snapshot equals `want` exactly."""
        last = [""]

        def check() -> bool:
            last[0] = diff_snapshots(snapshot(worktree), want, check_mode)
            return last[0] == ""

        wait_until(
            check, timeout, f"worktree {worktree} on {self.name} to match",
            lambda: f"diff:\n{last[0]}\n{self.describe()}",
        )

    def wait_uploaded(self, repo_id: str, server_head: Callable[[], str], since: str | None,
                      timeout: float = 180.0) -> str:
        """Wait until the local head moved past `since`, is synchronized and equals the server's."""

        def check() -> str | None:
            r = self.repo(repo_id)
            if r is None or r["state"] != "synchronized" or r["head"] == since:
                return None
            return str(r["head"]) if server_head() == r["head"] else None

        return wait_until(check, timeout, f"{self.name} to upload {repo_id}", self.describe)


@pytest.fixture
def seaf_client_factory(artifacts_dir: Path) -> Iterator[Callable[..., SeafClient]]:
    """Make started SeafClients (own HOME/conf/data under a short /tmp dir); cleans up."""
    require_peer(shutil.which("seaf-cli") is not None, "seaf-cli")
    require_peer(Path(SYSTEM_PYTHON).exists(), "Debian /usr/bin/python3 for seaf-cli")
    # Short base path: the daemon's unix socket path must stay below 108 bytes.
    base = Path(tempfile.mkdtemp(prefix="sfc-", dir="/tmp"))
    clients: list[SeafClient] = []

    def make(name: str, start: bool = True) -> SeafClient:
        c = SeafClient(name, base / name, artifacts_dir)
        clients.append(c)
        c.init()
        if start:
            c.start()
        return c

    yield make
    for c in clients:
        try:
            c.stop()
        finally:
            c.save_logs()
    shutil.rmtree(base, ignore_errors=True)


@dataclass
class SyncEnv:
    """A running server, an api2 session for its admin and a factory of seaf-cli clients."""

    server: SesameServer
    api: SesameApi
    new_client: Callable[..., SeafClient]
    user: str
    password: str
    _rtokens: dict[str, str]

    @property
    def url(self) -> str:
        return self.server.url

    def token(self) -> str:
        return self.api.login(self.user, self.password)

    def rtoken(self, repo_id: str) -> str:
        if repo_id not in self._rtokens:
            self._rtokens[repo_id] = self.api.repo_token(self.token(), repo_id)
        return self._rtokens[repo_id]

    def server_head(self, repo_id: str) -> str:
        return self.api.head(repo_id, self.rtoken(repo_id))

    def server_root(self, repo_id: str) -> str:
        rt = self.rtoken(repo_id)
        return str(self.api.commit(repo_id, rt, self.api.head(repo_id, rt))["root_id"])

    def create(self, client: SeafClient, name: str, libpasswd: str | None = None) -> str:
        return client.create(self.url, self.user, self.password, name, libpasswd)

    def clone(self, client: SeafClient, repo_id: str, libpasswd: str | None = None,
              timeout: float = 180.0) -> Path:
        """`seaf-cli download` into the client's libs dir; wait until synchronized."""
        client.download(repo_id, self.url, self.user, self.password, libpasswd=libpasswd)
        return client.wait_cloned(repo_id, timeout)

    def wait_uploaded(self, client: SeafClient, repo_id: str, since: str | None,
                      timeout: float = 180.0) -> str:
        return client.wait_uploaded(repo_id, lambda: self.server_head(repo_id), since, timeout)


@pytest.fixture
def seaf_env(
    sesame_server: SesameServer, seaf_client_factory: Callable[..., SeafClient]
) -> Iterator[SyncEnv]:
    """Server (admin user@example.com) + api session + seaf-cli client factory."""
    with SesameApi(sesame_server.url) as api:
        yield SyncEnv(
            server=sesame_server,
            api=api,
            new_client=seaf_client_factory,
            user=sesame_server.admin_email,
            password=sesame_server.admin_password,
            _rtokens={},
        )
