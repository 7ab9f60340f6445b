"""Helpers shared by the LocalObjectStore tests: a scope, the block kind, temp-file listing."""

from __future__ import annotations

import hashlib
from pathlib import Path

from sesamedisk.adapters.objects.local import TEMP_PREFIX
from sesamedisk.ports.objects import ObjectKind

SCOPE = "6f0c2b1e-8d4a-4c3b-9e2f-1a5b7c9d0e3f"
BLOCK = ObjectKind.BLOCK


def sha1(data: bytes) -> str:
    """The hex SHA-1 of `data` (a block's id)."""
    return hashlib.sha1(data).hexdigest()


def temp_files(root: Path) -> list[Path]:
    """The store's temporary files under `root` (none once every write has ended)."""
    return [p for p in root.rglob(f"{TEMP_PREFIX}*") if p.is_file()]
