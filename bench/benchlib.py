"""Helpers shared by bench/ scripts: owned server processes, free ports, RSS sampling, stats."""

from __future__ import annotations

import contextlib
import ctypes
import http.client
import os
import signal
import socket
import statistics
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import FrameType

import psutil  # type: ignore[import-untyped]

_PR_SET_PDEATHSIG = 1


class SetupError(RuntimeError):
    """The benchmark could not prepare its servers or data."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM if the benchmark dies without cleaning up."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class ServerProcess:
    """One server started by the benchmark; it is only ever signalled by its own PID."""

    def __init__(self, name: str, argv: Sequence[str], log: Path,
                 env: Mapping[str, str] | None = None, cwd: Path | None = None) -> None:
        self.name = name
        self.log = log
        self._log_file = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            list(argv), stdin=subprocess.DEVNULL, stdout=self._log_file,
            stderr=subprocess.STDOUT, env=dict(env) if env is not None else None, cwd=cwd,
            start_new_session=True, preexec_fn=_die_with_parent)  # noqa: PLW1509

    @property
    def pid(self) -> int:
        """The server's PID."""
        return self.proc.pid

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the server's output, for error messages."""
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def wait_http(self, port: int, timeout: float = 30.0) -> None:
        """Wait until the server answers any HTTP request on `port`."""
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise SetupError(f"{self.name} exited with status {self.proc.returncode}:\n"
                                 f"{self.log_tail()}")
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            try:
                conn.request("GET", "/")
                conn.getresponse().read()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise SetupError(f"{self.name} did not answer on port {port} within "
                                     f"{timeout:.0f} s:\n{self.log_tail()}") from None
                time.sleep(0.05)
            finally:
                conn.close()

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM this PID, then SIGKILL it if it has not exited after `grace` seconds."""
        try:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(grace)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(grace)
        finally:
            self._log_file.close()


def vm_hwm_bytes(pid: int) -> int | None:
    """The kernel's peak resident set size of `pid` (VmHWM), if readable."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its live children (nginx workers)."""
    total = 0.0
    parent = psutil.Process(pid)
    for process in [parent, *parent.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            times = process.cpu_times()
            total += times.user + times.system
    return total


class RssSampler:
    """Polls the RSS of some PIDs with psutil in a background thread, keeping the maximum."""

    def __init__(self, pids: Mapping[str, int], interval: float = 0.02) -> None:
        self._procs = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.peak: dict[str, int] = dict.fromkeys(pids, 0)
        self.first: dict[str, int] = {}
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _sample(self) -> None:
        for name, proc in self._procs.items():
            try:
                rss = int(proc.memory_info().rss)
            except psutil.Error:
                continue
            self.first.setdefault(name, rss)
            self.peak[name] = max(self.peak[name], rss)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self._interval)

    def start(self) -> None:
        """Take a first sample now and keep sampling in the background."""
        self._sample()
        self._thread.start()

    def stop(self) -> None:
        """Stop sampling (after one last sample)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self._sample()


def terminate_on_sigterm() -> Callable[[], None]:
    """Turn SIGTERM into KeyboardInterrupt so `finally` blocks clean up; returns an undo."""
    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, handler)

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous)

    return restore


def median_range(values: Sequence[float]) -> tuple[float, float, float]:
    """(median, min, max) of the values."""
    return statistics.median(values), min(values), max(values)


def fmt_range(values: Sequence[float], digits: int = 2) -> str:
    """'median [min–max]' with `digits` decimals."""
    mid, low, high = median_range(values)
    return f"{mid:.{digits}f} [{low:.{digits}f}–{high:.{digits}f}]"


def pin_env(extra: Mapping[str, str]) -> dict[str, str]:
    """The current environment plus `extra`."""
    env = dict(os.environ)
    env.update(extra)
    return env
