"""LibreOffice headless: office documents to PDF, one process and profile per conversion."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
from pathlib import Path

from sesamedisk.errors import InvalidRequest, Unavailable

MAX_PARALLEL_CONVERSIONS = 2
_SLOTS = threading.BoundedSemaphore(MAX_PARALLEL_CONVERSIONS)


def soffice_binary() -> str:
    """The path of `soffice`; Unavailable when LibreOffice is not installed."""
    found = shutil.which("soffice") or shutil.which("libreoffice")
    if found is None:
        raise Unavailable("LibreOffice (soffice) is not installed: office previews are off")
    return found


def _run(command: list[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess[bytes]:
    """Run soffice in its own session; on timeout kill the whole process group."""
    process = subprocess.Popen(command, cwd=cwd, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               start_new_session=True, env={**os.environ, "HOME": str(cwd)})
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise Unavailable(f"converting the document took longer than {timeout:.0f} s") from exc
    return subprocess.CompletedProcess(command, process.returncode, out, err)


def to_pdf(source: Path, out_dir: Path, timeout: float) -> Path:
    """Convert `source` to `out_dir/<stem>.pdf` with a private LibreOffice profile."""
    binary = soffice_binary()
    profile = out_dir / "lo-profile"
    command = [binary, "--headless", "--norestore", "--nologo", "--nodefault",
               "--nolockcheck", f"-env:UserInstallation={profile.as_uri()}",
               "--convert-to", "pdf", "--outdir", str(out_dir), str(source)]
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
