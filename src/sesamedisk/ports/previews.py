"""Previews port: rendering files for the browser, a cache of renders, private scratch space."""

from __future__ import annotations

import re
from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from sesamedisk.errors import InvalidRequest

MIB = 1024 * 1024
_VARIANT = re.compile(r"^[a-z0-9][a-z0-9.-]{0,63}$")
_HEX_ID = re.compile(r"^[0-9a-f]{40}$")
_LIBRARY_ID = re.compile(r"^[0-9a-f-]{36}$")


@dataclass(frozen=True)
class PreviewLimits:
    """The largest inputs previews accept and how long a conversion may take."""

    max_office_bytes: int = 100 * MIB
    max_pdf_bytes: int = 200 * MIB
    max_image_bytes: int = 64 * MIB
    max_image_pixels: int = 50_000_000
    max_text_bytes: int = 1 * MIB
    """Text and markdown beyond this many bytes are cut off (and marked truncated)."""
    office_timeout_seconds: float = 120.0


@dataclass(frozen=True)
class CacheKey:
    """One cached render: a file (by library and content id) and what was made of it."""

    library_id: str
    file_id: str
    variant: str

    def __post_init__(self) -> None:
        if not (_LIBRARY_ID.match(self.library_id) and _HEX_ID.match(self.file_id)
                and _VARIANT.match(self.variant)):
            raise InvalidRequest("malformed preview cache key")


class Renderer(Protocol):
    """Turns file contents into PNGs, PDFs and safe HTML."""

    def thumbnail(self, image: bytes, size: int, max_pixels: int) -> bytes:
        """A PNG whose longest side is at most `size`, upright by its EXIF orientation."""
        ...

    def browser_png(self, image: bytes, max_pixels: int) -> bytes:
        """The image converted to PNG (for formats browsers cannot show)."""
        ...

    def pdf_page_count(self, pdf_path: Path) -> int:
        """How many pages the PDF has; InvalidRequest if it is not a readable PDF."""
        ...

    def pdf_page_png(self, pdf_path: Path, index: int, longest_side: int) -> bytes:
        """Page `index` (0-based) rendered to a PNG whose longest side is `longest_side`."""
        ...

    def office_to_pdf(self, source: Path, out_dir: Path, timeout: float) -> Path:
        """Convert an office document to PDF inside `out_dir`; returns the PDF's path."""
        ...

    def highlight(self, source_text: str, filename: str) -> str:
        """Syntax-highlighted, escaped HTML of `source_text` (language guessed from `filename`)."""
        ...

    def markdown(self, source_text: str) -> str:
        """Markdown rendered to HTML with raw HTML escaped and unsafe links dropped."""
        ...


class PreviewCache(Protocol):
    """Renders of plain (unencrypted) files, keyed by content; entries appear atomically."""

    def read(self, key: CacheKey) -> bytes | None:
        """The cached bytes, or None."""
        ...

    def path_of(self, key: CacheKey) -> Path | None:
        """Where the cached entry lies, or None if it is not cached."""
        ...

    def write(self, key: CacheKey, data: bytes) -> None:
        """Store `data` under `key` (temp file + rename)."""
        ...

    def store_file(self, key: CacheKey, source: Path) -> Path:
        """Copy the file at `source` into the cache under `key`; returns the cached path."""
        ...


class Scratch(Protocol):
    """Private temporary folders that are removed when their block ends."""

    def private_dir(self) -> AbstractContextManager[Path]:
        """A fresh folder only this process's user can read, removed with its contents."""
        ...

    def spool(self, folder: Path, name: str, chunks: Iterable[bytes], max_bytes: int) -> Path:
        """Write `chunks` to `folder/name` (TooLarge beyond `max_bytes`); returns the path."""
        ...


@dataclass(frozen=True)
class Previews:
    """What the previews service needs: a renderer, the cache, scratch space and limits."""

    renderer: Renderer
    cache: PreviewCache
    scratch: Scratch
    limits: PreviewLimits = PreviewLimits()
