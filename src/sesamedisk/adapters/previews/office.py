"""LibreOffice headless: office documents to PDF, one process and profile each, without network."""

from __future__ import annotations

import functools
import logging
import os
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sesamedisk.errors import InvalidRequest, Unavailable

log = logging.getLogger(__name__)

Isolation = Literal["required", "best-effort", "off"]
"""`required`: no sandbox, no conversion; `best-effort`: convert anyway (warned once); `off`."""
MAX_PARALLEL_CONVERSIONS = 2
_SLOTS = threading.BoundedSemaphore(MAX_PARALLEL_CONVERSIONS)
PROBE_TIMEOUT_SECONDS = 15.0
ALWAYS_HIDDEN = (Path("/tmp"),)
"""Folders a conversion never sees (an empty tmpfs instead), besides the ones configured."""

_HIDE_SCRIPT = """set -e
scratch="$1"; shift
cd "$scratch"
while [ "$1" != "--" ]; do
  if [ -e "$1" ] && [ ! -d "$1" ]; then mount --no-canonicalize --bind /dev/null "$1"; fi
  shift
done
shift
while [ "$1" != "--" ]; do
  if [ -d "$1" ]; then mount -t tmpfs -o mode=0700,size=64m sesame-hidden "$1"; fi
  shift
done
shift
mkdir -p "$scratch"
mount --no-canonicalize --bind . "$scratch"
cd "$scratch"
exec "$@"
"""
"""Run inside fresh user+mount+network namespaces: cover each hidden file with /dev/null and
each hidden folder with an empty tmpfs (skipping paths that do not exist), then bind the
scratch folder (still open as the working directory) back to its path."""


@dataclass(frozen=True)
class HiddenPaths:
    """What a conversion must not see: folders (covered by a tmpfs) and files (by /dev/null).

    /tmp is always hidden too; paths missing when a conversion starts are skipped.
    """

    folders: tuple[Path, ...] = ()
    files: tuple[Path, ...] = ()

    def resolved(self) -> HiddenPaths:
        """The real paths (symlinks resolved, now), /tmp first among the folders."""
        return HiddenPaths(tuple(path.resolve() for path in (*ALWAYS_HIDDEN, *self.folders)),
                           tuple(path.resolve() for path in self.files))


@dataclass(frozen=True)
class Sandbox:
    """How `unshare` confines a conversion on this machine."""

    unshare: str
    user_flags: tuple[str, ...]
    """("--map-root-user",) for an unprivileged user namespace, () when root may do without."""
    hides_files: bool
    """Whether a mount namespace can hide folders and files too (else only the network is
    cut off)."""

    def wrap(self, command: Sequence[str], scratch: Path, hidden: HiddenPaths) -> list[str]:
        """`command` run with no network interface at all and, if possible, `hidden` covered."""
        offline = [self.unshare, "--net", *self.user_flags]
        if not self.hides_files:
            return [*offline, *command]
        return [*offline, "--mount", "--propagation", "private", "sh", "-c", _HIDE_SCRIPT,
                "sesame-hide", str(scratch), *(str(path) for path in hidden.files), "--",
                *(str(path) for path in hidden.folders), "--", *command]


def _works(command: list[str]) -> bool:
    try:
        return subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=PROBE_TIMEOUT_SECONDS, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@functools.cache
def sandbox_for(unshare: str | None) -> Sandbox | None:
    """Probe once per `unshare` binary what it can do here; None (and a warning) if nothing."""
    if unshare is not None:
        flag_choices = [("--map-root-user",), ()] if os.geteuid() == 0 else [("--map-root-user",)]
        with tempfile.TemporaryDirectory(prefix="sesame-probe-") as folder:
            scratch, secret = Path(folder) / "scratch", Path(folder) / "secret"
            scratch.mkdir()
            secret.write_bytes(b"")  # bound over, then covered with the folder
            hidden = HiddenPaths((Path(folder),), (secret,))
            for hides_files in (True, False):
                for flags in flag_choices:
                    sandbox = Sandbox(unshare, flags, hides_files)
                    if _works(sandbox.wrap(["true"], scratch, hidden)):
                        if not hides_files:
                            log.warning("office conversions run without network but can see "
                                        "the server's files: mount namespaces are not usable")
                        return sandbox
    log.warning("office conversions cannot be cut off from the network: `unshare --net "
                "--map-root-user true` fails (install util-linux, allow unprivileged user "
                "namespaces or run as root); a crafted document could make LibreOffice fetch "
                "URLs from this server's network. Set [previews] office_network_isolation = "
                "\"required\" to refuse office previews instead")
    return None


_PROBING = threading.Lock()


def current_sandbox() -> Sandbox | None:
    """The sandbox of the `unshare` found on PATH now (probed once per binary)."""
    unshare = shutil.which("unshare")
    with _PROBING:  # concurrent first conversions probe (and warn) only once
        return sandbox_for(unshare)


def soffice_binary() -> str:
    """The path of `soffice`; Unavailable when LibreOffice is not installed."""
    found = shutil.which("soffice") or shutil.which("libreoffice")
    if found is None:
        raise Unavailable("LibreOffice (soffice) is not installed: office previews are off")
    return found


def _confined(command: list[str], scratch: Path, isolation: Isolation,
              hidden: HiddenPaths) -> list[str]:
    if isolation == "off":
        return command
    sandbox = current_sandbox()
    if sandbox is not None:
        return sandbox.wrap(command, scratch, hidden.resolved())
    if isolation == "required":
        raise Unavailable("office previews are off: this server cannot run LibreOffice "
                          "without network access (`unshare --net` is not usable)")
    return command


def _environment(scratch: Path) -> dict[str, str]:
    """Only what LibreOffice needs: none of the server's secrets in its environment."""
    kept = {name: value for name, value in os.environ.items()
            if name in ("PATH", "LANG", "LANGUAGE", "TZ") or name.startswith("LC_")}
    return {**kept, "HOME": str(scratch), "TMPDIR": str(scratch)}


def _run(command: list[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess[bytes]:
    """Run soffice in its own session; on timeout kill the whole process group."""
    process = subprocess.Popen(command, cwd=cwd, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               start_new_session=True, env=_environment(cwd))
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise Unavailable(f"converting the document took longer than {timeout:.0f} s") from exc
    return subprocess.CompletedProcess(command, process.returncode, out, err)


def to_pdf(source: Path, out_dir: Path, timeout: float, *, isolation: Isolation = "best-effort",
           hidden: HiddenPaths = HiddenPaths()) -> Path:
    """Convert `source` to `out_dir/<stem>.pdf` with a private LibreOffice profile.

    The conversion has no network (see `isolation`) and, where mount namespaces work, sees
    neither `hidden` nor /tmp, only `out_dir` (even when it lies inside a hidden folder).
    """
    binary = soffice_binary()
    profile = out_dir / "lo-profile"
    command = [binary, "--headless", "--norestore", "--nologo", "--nodefault",
               "--nolockcheck", f"-env:UserInstallation={profile.as_uri()}",
               "--convert-to", "pdf", "--outdir", str(out_dir), str(source)]
    command = _confined(command, out_dir.resolve(), isolation, hidden)
    with _SLOTS:
        try:
            result = _run(command, out_dir, timeout)
        finally:
            shutil.rmtree(profile, ignore_errors=True)
    pdf = out_dir / f"{source.stem}.pdf"
    if result.returncode != 0 or not pdf.is_file() or pdf.stat().st_size == 0:
        detail = result.stderr.decode("utf-8", "replace").strip()[-300:]
        raise InvalidRequest(f"the document could not be converted to PDF {detail}".strip())
    return pdf
