"""Acceptance (c) and (d) on a real three-copies server: random SIGKILLs; GC gives space back."""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from sesamedisk.adapters.metadata.engine import create_engine_for, sqlite_url_for_data_dir
from sesamedisk.adapters.metadata.sql import sql_unit_of_work_factory
from sesamedisk.ports.metadata import UnitOfWorkFactory
from tests.plugins.server import CliProcess, SesameApi, SesameServer, _auth

MiB = 1 << 20
DISKS = ("disk-1", "disk-2", "disk-3")
KILLS = {"sqlite": 30, "postgres": 6}  # the full loop on SQLite, a short one on PostgreSQL
KILL_DELAY = (0.05, 1.5)
WIPE_EVERY = 8  # every eighth iteration deletes one backend folder's objects
WRITERS, LIBRARIES = 3, 8  # more libraries than killed collectors leave fenced at once
THINK = (0.0, 0.12)  # seconds between a writer's requests: fewer commits, quicker fsck
LIVE_BUDGET = 16 * MiB  # confirmed bytes per writer at most: quick read-back and fsck
MISSING_COPY = re.compile(r"^PROBLEM library \S+ \(.*\): missing copy of \S+ on backend \S+$")
BENIGN_GC_ERRORS = ("kept changing", "another collector is deleting")
"""gc skipped a library: writers kept moving its head, or a killed gc's fence is still on."""
Key = tuple[str, str]  # (library id, path)
Possible = list[bytes | None]  # what a read may return: each content the server may hold


@pytest.fixture
def three_copies(sesame_server_factory: Callable[..., SesameServer],
                 tmp_path: Path) -> SesameServer:
    """A started server: 3 local copies, quorum 2, repairs every second, GC keeps no history."""
    disks = "".join(f'[[storage.backends]]\ntype = "local"\nname = "{d}"\npath = "copies/{d}"\n'
                    for d in DISKS)
    config = tmp_path / "three-copies.toml"
    config.write_text("[storage]\ncopies = 3\nwrite_quorum = 2\n" + disks
                      + "[scrub]\ninterval_hours = 0\nmax_mb_per_second = 100\n"
                        "repair_interval_seconds = 1\n"
                      + "[gc]\nhistory_days = 0\ntrash_days = 0\ngrace_hours = 0\n")
    return sesame_server_factory("three-copies", config=config)


def _backend_bytes(server: SesameServer) -> int:
    """Bytes of every file below the three backend folders (temp files included)."""
    return sum(p.stat().st_size for d in DISKS
               for p in (server.data_dir / "copies" / d).rglob("*") if p.is_file())


def _content(rng: random.Random, recent: list[bytes]) -> bytes:
    """Empty to multi-block content, some equal to or sharing blocks with `recent` ones."""
    big = [c for c in recent if len(c) > 8 * MiB]
    roll = rng.random()
    if recent and roll < 0.12:
        return rng.choice(recent)
    if big and roll < 0.22:
        content = rng.choice(big)[:6 * MiB] + rng.randbytes(rng.randint(1, 3 * MiB))
    elif roll < 0.36:
        content = rng.randbytes(rng.randint(8 * MiB + 1, 12 * MiB))
    else:
        content = b"" if roll < 0.38 else rng.randbytes(int(2 ** rng.uniform(0, 21.5)))
    recent[:] = [*recent[-15:], content]  # shared by the writers, so they share blocks too
    return content


class Writer(threading.Thread):
    """Puts, overwrites, reads and deletes its own files; confirms only what the server did.

    Each step runs under `lock` while `gate` is set: with the gate closed and every writer's
    lock taken, `files` is stable. It maps each file to what a read may return: one content
    once confirmed, several while a request's outcome is unknown.
    """

    def __init__(self, index: int, url: str, token: str, *, gate: threading.Event,
                 recent: list[bytes], seed: int) -> None:
        super().__init__(name=f"writer-{index}", daemon=True)
        self.files: dict[Key, Possible] = {}
        self.open_libraries: list[str] = []
        """Where new steps go: the libraries no killed collector left fenced."""
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.current = ""
        self.outcomes: Counter[str] = Counter()
        self.confirmations = 0
        self.error: BaseException | None = None
        self._gate = gate
        self._recent = recent
        self._rng = random.Random(seed)
        self._made = 0
        self._http = httpx.Client(base_url=url, headers=_auth(token), timeout=90.0)

    def run(self) -> None:
        """Step while the gate is open, until stopped; an exception ends the thread."""
        try:
            while not self.stopping.is_set():
                with self.lock:
                    stepped = self._gate.is_set() and bool(self.open_libraries)
                    if stepped:
                        self._step()
                self.stopping.wait(self._rng.uniform(*THINK) if stepped else 0.05)
        except BaseException as exc:  # reported by the test
            self.error = exc
        finally:
            self._http.close()

    def confirmed(self) -> dict[Key, bytes]:
        """Files whose content the server confirmed and no request has touched since."""
        return {k: c[0] for k, c in self.files.items() if len(c) == 1 and c[0] is not None}

    def _step(self) -> None:
        confirmed = self.confirmed()
        here = sorted(k for k in confirmed if k[0] in self.open_libraries)
        roll = self._rng.random()
        pick = self._rng.choice(here) if here else None
        if pick and (sum(map(len, confirmed.values())) > LIVE_BUDGET or roll < 0.2):
            self._change(pick, "DELETE", None)
        elif pick and roll < 0.45:
            got = self._send("GET", pick, None)
            assert isinstance(got, str) or got.content == confirmed[pick], \
                f"GET {pick} of confirmed {len(confirmed[pick])} bytes: {got.status_code}"
        elif pick and roll < 0.55:
            self._change(pick, "PUT", _content(self._rng, self._recent))
        else:
            self._made += 1
            key = (self._rng.choice(self.open_libraries), f"/{self.name}/f{self._made}.bin")
            self._change(key, "PUT", _content(self._rng, self._recent))

    def _send(self, method: str, key: Key, content: bytes | None) -> httpx.Response | str:
        """The answer, or "refused" (nothing was sent) or "cut off" (the outcome is unknown)."""
        self.current = f"{method} {key[1]}" + ("" if content is None else f" ({len(content)} B)")
        answer: httpx.Response | str
        try:
            answer = self._http.request(method, f"/api/v1/repos/{key[0]}/file",
                                        params={"p": key[1]}, content=content)
        except httpx.ConnectError:
            answer = "refused"
        except httpx.TransportError:
            answer = "cut off"
        self.current = ""
        self.outcomes[f"{method} {getattr(answer, 'status_code', answer)}"] += 1
        return answer

    def _change(self, key: Key, method: str, content: bytes | None) -> None:
        before = self.files.get(key, [None])
        answer = self._send(method, key, content)
        if isinstance(answer, str):
            if answer == "cut off":  # the kill came before or after the change: unknown
                self.files[key] = [*before, content]
        elif answer.status_code in (201, 204):
            self.files[key] = [content]
            self.confirmations += 1
        elif answer.status_code == 503:
            self.files[key] = [*before, content]
        else:  # refused: the head kept moving, or gc took a block during the upload
            assert answer.status_code == 409 or (answer.status_code == 400 and "missing" in
                                                 answer.text), f"{method} {key}: {answer.text}"


def _outcome(run: CliProcess) -> str:
    """One line for the log; fails when a gc or scrub that ended by itself went wrong.

    Exit code 1 is fine once it completed and lost nothing (libraries kept changing or were
    still fenced by a killed gc, or gc deleted objects while scrub checked them).
    """
    code, out, err = run.finish(timeout=60)
    what, lines = run.args[0], out.strip().splitlines() or [""]
    if run.killed:
        return f"{what} killed {time.monotonic() - run.ready_at:.2f}s after start-up"
    completed = lines[-1].startswith(f"{what}: ") and "unreachable" not in out
    lost = any("ERROR" in line and not any(benign in line for benign in BENIGN_GC_ERRORS)
               for line in lines) or (
        what == "scrub" and not lines[-1].endswith(" 0 unrecoverable"))
    assert code == 0 or (code == 1 and completed and not lost), \
        f"`sesame {what}` ended with {code}:\n{out}\n{err[-3000:]}"
    return f"{what} finished ({lines[-1]})"


@dataclass
class Team:
    """The writers, their gate and libraries, the metadata database, and what kills hit."""

    gate: threading.Event
    writers: list[Writer]
    token: str
    seed: int
    libraries: list[str]
    uow: UnitOfWorkFactory
    seen: Counter[str] = field(default_factory=Counter)
    scanned: float = 0.0
    """When the last scan for torn objects began (files created since are read next time)."""

    def open_unfenced(self) -> int:
        """Point the writers at the libraries no killed gc left fenced (120 s); how many are."""
        now = int(time.time())
        with self.uow() as uow:
            fenced = {lib.id for lib in uow.libraries.list_all() if lib.fenced(now)}
        for writer in self.writers:
            writer.open_libraries = [lib for lib in self.libraries if lib not in fenced]
        return len(fenced)


@pytest.fixture
def team(three_copies: SesameServer) -> Iterator[Team]:
    """Writer threads on the libraries (gate closed), stopped after the test."""
    with SesameApi(three_copies.url) as api:
        token = api.login(three_copies.admin_email, three_copies.admin_password)
        libraries = [str(api.create_repo(token, f"crash-{n}")["repo_id"])
                     for n in range(LIBRARIES)]
    engine = create_engine_for(three_copies.database_url
                               or sqlite_url_for_data_dir(three_copies.data_dir))
    gate, recent = threading.Event(), list[bytes]()
    seed = int(os.environ.get("SESAMEDISK_CRASH_SEED", random.randrange(1 << 30)))
    print(f"crash loop seed {seed} (set SESAMEDISK_CRASH_SEED to repeat the choices)")
    writers = [Writer(i, three_copies.url, token, gate=gate, recent=recent, seed=seed + i)
               for i in range(WRITERS)]
    for writer in writers:
        writer.start()
    yield Team(gate, writers, token, seed, libraries, sql_unit_of_work_factory(engine))
    for writer in writers:
        writer.stopping.set()
        writer.join(120)
    engine.dispose()


def _kill_at_random(server: SesameServer, team: Team, rng: random.Random,
                    wiped: str | None) -> str:
    """Let the writers (and maybe gc, scrub) run, then SIGKILL everything; what was hit."""
    done = sum(w.confirmations for w in team.writers)
    if wiped is not None:  # every object of one backend folder (the folder stays)
        for child in (server.data_dir / "copies" / wiped).iterdir():
            shutil.rmtree(child, ignore_errors=True)
    team.gate.set()
    runs = [server.spawn_cli(what) for what, chance in (("gc", 0.7), ("scrub", 0.4))
            if rng.random() < chance or (what == "scrub" and wiped is not None)]
    for run in runs:
        run.wait_ready()
    time.sleep(delay := rng.uniform(*KILL_DELAY))
    in_flight = [w.current for w in team.writers if w.current]
    for run in runs:
        run.kill()
    server.kill(signal.SIGKILL)
    team.gate.clear()
    for writer in team.writers:  # wait until no writer is inside a step
        with writer.lock:
            assert writer.error is None, f"{writer.name} failed: {writer.error!r}"
    lines = [_outcome(run) for run in runs]
    team.seen.update(run.args[0] for run in runs if run.killed)
    team.seen["in flight"] += bool(in_flight)
    confirmed = sum(w.confirmations for w in team.writers) - done
    team.seen["busy"] += confirmed > 0
    return (f"{confirmed} requests confirmed, then SIGKILL serve pid {server.pid} "
            f"{delay:.2f}s after start-up; in flight: {in_flight or 'nothing'}; "
            f"{'; '.join(lines) or 'no gc/scrub'}" + (f"; wiped {wiped}" if wiped else ""))


def _fsck_clean(server: SesameServer, result: subprocess.CompletedProcess[str],
                wiped: str | None) -> str:
    """fsck passed; or, after a wipe, found only missing copies that `fsck --repair` restores."""
    if result.returncode == 0:
        return "fsck OK"
    problems = [line for line in result.stdout.splitlines() if line.startswith("PROBLEM")]
    assert wiped is not None, f"fsck not clean after a kill:\n{result.stdout[-6000:]}"
    assert all(MISSING_COPY.match(p) for p in problems), \
        f"fsck found more than missing copies after wiping {wiped}:\n{result.stdout[-6000:]}"
    repair = server.cli("fsck", "--repair")  # exits 0 only if its check after repairing passes
    assert repair.returncode == 0, (f"fsck --repair (run only because {wiped} was wiped and "
                                    f"copies were missing) failed:\n{repair.stdout}")
    return f"fsck OK after --repair of {len(problems)} missing copies ({wiped} wiped)"


def _read_back(server: SesameServer, team: Team) -> tuple[int, int]:
    """Every file reads as one of its possible contents; then that content is certain."""
    files = largest = 0
    with httpx.Client(base_url=server.url, headers=_auth(team.token), timeout=60.0) as http:
        for writer in team.writers:
            for (library, path), possible in list(writer.files.items()):
                response = http.get(f"/api/v1/repos/{library}/file", params={"p": path})
                assert response.status_code in (200, 404), f"{path}: {response.text}"
                found = response.content if response.status_code == 200 else None
                assert found in possible, (
                    f"{path} reads as {None if found is None else len(found)} bytes; possible: "
                    f"{[None if p is None else len(p) for p in possible]}")
                writer.files[library, path] = [found]
                files += found is not None
                largest = max(largest, len(found or b""))
            writer.files = {key: seen for key, seen in writer.files.items() if seen != [None]}
    return files, largest


def _recover(server: SesameServer, team: Team, wiped: str | None) -> str:
    """fsck and a scan for torn objects while the server restarts, then read every file back."""
    began = time.monotonic()
    fenced = team.open_unfenced()
    since, team.scanned = team.scanned, time.time() - 1  # the next scan reads what comes now
    with ThreadPoolExecutor(2) as pool:
        fsck, torn = pool.submit(server.fsck), pool.submit(server.torn_objects, since)
        server.start()
    assert not torn.result(), f"objects whose bytes are not their id: {torn.result()[:9]}"
    checked = _fsck_clean(server, fsck.result(), wiped)
    fscked = time.monotonic()
    files, largest = _read_back(server, team)
    team.seen["multi-block"] += largest > 8 * MiB
    return (f"{checked}; restarted ({fscked - began:.1f}s); {files} files read back "
            f"byte-identical ({time.monotonic() - fscked:.1f}s); {fenced} libraries fenced")


@pytest.mark.slow
def test_random_sigkills_lose_nothing_and_leave_fsck_clean(
        three_copies: SesameServer, database_url: str, team: Team) -> None:
    rng = random.Random(team.seed)
    kills = KILLS["sqlite" if database_url.startswith("sqlite") else "postgres"]
    began = time.monotonic()
    team.open_unfenced()
    for turn in range(1, kills + 1):
        wiped = rng.choice(DISKS) if turn % WIPE_EVERY == 0 else None
        print(f"kill {turn}/{kills}: {_kill_at_random(three_copies, team, rng, wiped)}")
        print(f"    {_recover(three_copies, team, wiped)}")
    outcomes = sum((w.outcomes for w in team.writers), Counter[str]())
    seen = team.seen
    print(f"{kills} kills in {time.monotonic() - began:.0f}s; {dict(seen)}; {dict(outcomes)}")
    assert outcomes["PUT 201"] >= 3 * kills, f"too few confirmed uploads: {outcomes}"
    assert outcomes["DELETE 204"] >= kills, f"too few confirmed deletions: {outcomes}"
    assert seen["busy"] >= kills * 2 // 3, f"too many kills without confirmed requests: {seen}"
    assert seen["multi-block"] > 0, "no file of several blocks was ever confirmed"
    if kills >= 30:  # a short loop may miss these by chance
        assert seen["in flight"] >= kills // 3, f"too few kills during requests: {seen}"
        assert seen["gc"] > 0, f"no kill hit a running `sesame gc`: {seen}"
        assert seen["scrub"] > 0, f"no kill hit a running `sesame scrub`: {seen}"


def _gc(server: SesameServer, *args: str) -> int:
    """Run `sesame gc [args]`: the bytes it says are reclaimable (dry run) or were freed."""
    result = server.cli("gc", *args)
    assert result.returncode == 0, result.stdout + result.stderr
    verb = "reclaimable" if args else "freed"
    found = re.search(rf"^gc.*: \d+ objects, (\d+) bytes {verb} \(one copy each\)$",
                      result.stdout, re.MULTILINE)
    assert found is not None, result.stdout
    return int(found[1])


def test_gc_gives_back_the_space_of_deleted_files(three_copies: SesameServer) -> None:
    server, kept = three_copies, os.urandom(3 * MiB)
    doomed = {f"/old/{n}.bin": os.urandom(size)
              for n, size in enumerate((9 * MiB + 1, 5 * MiB, 2 * MiB + 3, 200_000))}
    with SesameApi(server.url) as api:
        token = api.login(server.admin_email, server.admin_password)
        library = str(api.create_repo(token, "gc")["repo_id"])
        for path, content in {"/keep.bin": kept, "/old/copy-of-keep.bin": kept,
                              **doomed}.items():
            assert api.put_file(token, library, path, content).status_code == 201, path
        response = api.http.delete(f"/api/v1/repos/{library}/file", params={"p": "/old"},
                                   headers=_auth(token))
        assert response.status_code == 204, response.text
        time.sleep(1.2)  # history_days = 0 keeps the state at "now": the deletion must be older
        size, before = sum(map(len, doomed.values())), _backend_bytes(server)
        assert before >= 3 * (size + len(kept))

        reclaimable = _gc(server, "--dry-run")
        assert size <= reclaimable < size + 64 * 1024, "deleted bytes (one copy) + metadata"
        assert _backend_bytes(server) == before, "a dry run must not delete anything"
        assert _gc(server) == reclaimable
        after = _backend_bytes(server)
        print(f"{size} bytes deleted, {reclaimable} reclaimable: backends {before} -> {after} "
              f"bytes (data folder now {server.data_size()} bytes)")
        assert before - after >= 3 * size, "usage must drop by the deleted bytes times 3 copies"
        assert before - after < 3 * (size + 64 * 1024), "the blocks /keep.bin shares must stay"
        response = api.http.get(f"/api/v1/repos/{library}/file", params={"p": "/keep.bin"},
                                headers=_auth(token))
        assert response.content == kept
    fsck = server.fsck()
    assert fsck.returncode == 0, fsck.stdout
