"""Private scratch folders for conversions, removed afterwards (and swept after a crash)."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sesamedisk.errors import TooLarge

PREFIX = "preview-"


class LocalScratch:
    """Folders (mode 0700) under `root`; leftovers older than `grace_seconds` are swept."""

    def __init__(self, root: Path, grace_seconds: float = 3600.0) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        root.chmod(0o700)
        self.sweep(grace_seconds)

    def sweep(self, grace_seconds: float) -> int:
        """Remove folders a killed process left behind; returns how many."""
        cutoff, removed = time.time() - grace_seconds, 0
        for entry in self.root.glob(f"{PREFIX}*"):
            if entry.stat().st_mtime < cutoff:
                shutil.rmtree(entry, ignore_errors=True)
                removed += 1
        return removed

    @contextmanager
    def private_dir(self) -> Iterator[Path]:
        """A fresh folder only this user can read, removed with its contents on exit."""
        folder = Path(tempfile.mkdtemp(prefix=PREFIX, dir=self.root))
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def spool(self, folder: Path, name: str, chunks: Iterable[bytes], max_bytes: int) -> Path:
        """Write `chunks` to `folder/name`; TooLarge (file removed) beyond `max_bytes`."""
        path = folder / name
        written = 0
        try:
            with path.open("xb") as out:
                for chunk in chunks:
                    written += len(chunk)
                    if written > max_bytes:
                        raise TooLarge(f"the file is larger than {max_bytes} bytes")
                    out.write(chunk)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return path
