"""Previews: what a file is shown as, its pages and thumbnails as PNG, text as safe HTML.

Renders of plain libraries are cached by (library, file id, variant). Nothing decrypted from
an encrypted library is ever cached: its renders are made in memory or in a private scratch
folder that is removed when the request is done. Concurrent requests for the same office
document convert it once; a cached PDF is linked into the request's scratch folder before use,
so an eviction meanwhile means converting again, never a failed request.
"""

from __future__ import annotations

import itertools
import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sesamedisk.domain import crypto
from sesamedisk.domain.records import User
from sesamedisk.errors import InvalidRequest, TooLarge, Unavailable
from sesamedisk.ports.deps import Deps
from sesamedisk.ports.previews import CacheKey, PreviewCache, Previews
from sesamedisk.services import files
from sesamedisk.services.libraries import get_library
from sesamedisk.services.preview_kinds import (
    SNIFF_BYTES,
    Kind,
    browser_media_type,
    extension,
    kind_by_content,
    kind_by_name,
    looks_like_text,
)

THUMBNAIL_SIZES = frozenset({64, 128, 256, 512, 1024})
PAGE_LONGEST_SIDE = 1600
"""Pixels on the longer side of a rendered page (an A4 page: 1131 x 1600)."""
NO_PREVIEW = "no preview for this type"


@dataclass(frozen=True)
class PreviewInfo:
    """What the browser shows: the kind, the page count (pdf) or the HTML (text, markdown)."""

    kind: str
    pages: int | None = None
    html: str | None = None
    truncated: bool = False


@dataclass(frozen=True)
class Rendered:
    """An image for the browser: bytes or a stream, its type, and whether it may be cached."""

    body: bytes | Iterator[bytes]
    media_type: str
    file_id: str
    encrypted: bool
    size: int | None = None


@dataclass
class _Source:
    """One file being previewed: its content, kind, and where renders of it may be cached."""

    previews: Previews
    content: files.FileContent
    library_id: str
    encrypted: bool
    kind: Kind

    @property
    def name(self) -> str:
        return self.content.dirent.name

    def key(self, variant: str) -> CacheKey | None:
        """The cache key of a render, or None: an encrypted library's renders are never cached."""
        if self.encrypted:
            return None
        return CacheKey(self.library_id, self.content.dirent.id, variant)

    def cached(self, variant: str) -> bytes | None:
        key = self.key(variant)
        return None if key is None else self.previews.cache.read(key)

    def keep(self, variant: str, data: bytes) -> bytes:
        key = self.key(variant)
        if key is not None:
            self.previews.cache.write(key, data)
        return data


def _previews(deps: Deps) -> Previews:
    if deps.previews is None:
        raise Unavailable("previews are not configured on this server")
    return deps.previews


def _open(deps: Deps, actor: User, library_id: str, path: str,
          file_key: crypto.FileKey | None) -> _Source:
    """Check access, locate the file and settle its kind (sniffing the first block if needed)."""
    previews = _previews(deps)
    library = get_library(deps, actor, library_id)
    content = files.read_file(deps, actor, library_id, path, file_key=file_key)
    kind = kind_by_name(content.dirent.name)
    if kind is None:
        first = next(content.chunks, b"")
        chunks = itertools.chain([first], content.chunks)
        content = files.FileContent(dirent=content.dirent, size=content.size, chunks=chunks)
        kind = kind_by_content(first[:SNIFF_BYTES])
    return _Source(previews, content, library.id, library.encrypted, kind)


def _read_all(source: _Source, max_bytes: int) -> bytes:
    """The whole file in memory; TooLarge before reading anything if it exceeds `max_bytes`."""
    if source.content.size > max_bytes:
        raise TooLarge(f"{source.name} is larger than the {max_bytes} bytes previews accept")
    return b"".join(source.content.chunks)


def _read_head(source: _Source, max_bytes: int) -> bytes:
    """At most the first `max_bytes` bytes, stopping the stream as soon as they are read."""
    parts, total = [], 0
    for chunk in source.content.chunks:
        parts.append(chunk[: max_bytes - total])
        total += len(parts[-1])
        if total >= max_bytes:
            break
    return b"".join(parts)


class _KeyedLocks:
    """One lock per cache key while someone holds or waits for it: single-flight conversions."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[CacheKey, tuple[threading.Lock, int]] = {}

    @contextmanager
    def hold(self, key: CacheKey) -> Iterator[None]:
        """Hold the lock of `key`; the last one out forgets it."""
        with self._guard:
            lock, users = self._locks.get(key, (threading.Lock(), 0))
            self._locks[key] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._guard:
                lock, users = self._locks[key]
                if users == 1:
                    del self._locks[key]
                else:
                    self._locks[key] = (lock, users - 1)


_CONVERSIONS = _KeyedLocks()
"""Concurrent requests for the same office document wait for one conversion, then share it."""


def _pinned(cache: PreviewCache, key: CacheKey, folder: Path) -> Path | None:
    """A link (or copy) in `folder` of the cached entry, which eviction cannot take away."""
    cached = cache.path_of(key)
    if cached is None:
        return None
    pinned = folder / "cached.pdf"
    try:
        os.link(cached, pinned)
    except FileNotFoundError:  # evicted between the check and the link
        return None
    except OSError:  # another file system, or hard links not allowed: copy it
        try:
            shutil.copyfile(cached, pinned)
        except FileNotFoundError:
            return None
    return pinned


def _converted(source: _Source, folder: Path) -> Path:
    """LibreOffice's PDF of the office document, in `folder`."""
    previews, limits = source.previews, source.previews.limits
    original = previews.scratch.spool(folder, f"source.{extension(source.name)}",
                                      source.content.chunks, limits.max_office_bytes)
    pdf = previews.renderer.office_to_pdf(original, folder, limits.office_timeout_seconds)
    original.unlink()
    return pdf


@contextmanager
def _pdf_of(source: _Source) -> Iterator[Path]:
    """A PDF of the source on local disk: spooled, cached, or converted from an office file."""
    previews = source.previews
    with previews.scratch.private_dir() as folder:
        if source.kind is Kind.PDF:
            yield previews.scratch.spool(folder, "document.pdf", source.content.chunks,
                                         previews.limits.max_pdf_bytes)
            return
        cache_key = source.key("document.pdf")
        if cache_key is None:
            yield _converted(source, folder)
            return
        pdf = _pinned(previews.cache, cache_key, folder)
        if pdf is None:
            with _CONVERSIONS.hold(cache_key):
                pdf = _pinned(previews.cache, cache_key, folder)
                if pdf is None:
                    pdf = _converted(source, folder)
                    previews.cache.store_file(cache_key, pdf)
        yield pdf


def _page_count(source: _Source) -> int:
    cached = source.cached("pages")
    if cached is not None:
        return int(cached)
    with _pdf_of(source) as pdf:
        pages = source.previews.renderer.pdf_page_count(pdf)
    source.keep("pages", str(pages).encode())
    return pages


def _page(source: _Source, index: int, longest_side: int, variant: str) -> bytes:
    cached = source.cached(variant)
    if cached is not None:
        return cached
    with _pdf_of(source) as pdf:
        png = source.previews.renderer.pdf_page_png(pdf, index, longest_side)
    return source.keep(variant, png)


def _text_html(source: _Source) -> PreviewInfo:
    limit = source.previews.limits.max_text_bytes
    truncated = source.content.size > limit
    variant = f"{source.kind.value}.html"
    html = (source.cached(variant) or b"").decode()
    if not html:
        head = _read_head(source, limit)
        if not looks_like_text(head[:SNIFF_BYTES]):
            return PreviewInfo(kind=Kind.NONE.value)
        text = head.decode("utf-8", errors="replace")
        renderer = source.previews.renderer
        html = renderer.markdown(text) if source.kind is Kind.MARKDOWN \
            else renderer.highlight(text, source.name)
        source.keep(variant, html.encode())
    return PreviewInfo(kind=source.kind.value, html=html, truncated=truncated)


def _image_thumbnail(source: _Source, size: int, variant: str) -> bytes:
    limits = source.previews.limits
    image = _read_all(source, limits.max_image_bytes)
    return source.keep(variant, source.previews.renderer.thumbnail(
        image, size, limits.max_image_pixels))


def preview_info(deps: Deps, actor: User, library_id: str, path: str, *,
                 file_key: crypto.FileKey | None = None) -> PreviewInfo:
    """The kind of preview; PDFs and office documents with their page count, text as HTML."""
    source = _open(deps, actor, library_id, path, file_key)
    if source.kind in (Kind.PDF, Kind.OFFICE):
        return PreviewInfo(kind=Kind.PDF.value, pages=_page_count(source))
    if source.kind in (Kind.TEXT, Kind.MARKDOWN):
        return _text_html(source)
    return PreviewInfo(kind=source.kind.value)


def page_png(deps: Deps, actor: User, library_id: str, path: str, *, page: int,
             file_key: crypto.FileKey | None = None) -> Rendered:
    """Page `page` (1-based) of a PDF or office document as a PNG."""
    if page < 1:
        raise InvalidRequest("page numbers start at 1")
    source = _open(deps, actor, library_id, path, file_key)
    if source.kind not in (Kind.PDF, Kind.OFFICE):
        raise InvalidRequest(NO_PREVIEW)
    png = _page(source, page - 1, PAGE_LONGEST_SIDE, f"page-{page}-{PAGE_LONGEST_SIDE}.png")
    return Rendered(png, "image/png", source.content.dirent.id, source.encrypted)


def thumbnail_png(deps: Deps, actor: User, library_id: str, path: str, *, size: int,
                  file_key: crypto.FileKey | None = None) -> Rendered:
    """A PNG at most size x size of an image or of the first page of a PDF/office document."""
    if size not in THUMBNAIL_SIZES:
        raise InvalidRequest(f"size must be one of {sorted(THUMBNAIL_SIZES)}")
    source = _open(deps, actor, library_id, path, file_key)
    variant = f"thumb-{size}.png"
    if source.kind in (Kind.PDF, Kind.OFFICE):
        png = _page(source, 0, size, variant)
    elif source.kind is Kind.IMAGE:
        png = source.cached(variant) or _image_thumbnail(source, size, variant)
    else:
        raise InvalidRequest(NO_PREVIEW)
    return Rendered(png, "image/png", source.content.dirent.id, source.encrypted)


def image_for_browser(deps: Deps, actor: User, library_id: str, path: str, *,
                      file_key: crypto.FileKey | None = None) -> Rendered:
    """PNG, JPEG, GIF and WebP streamed as they are; other images converted to PNG."""
    source = _open(deps, actor, library_id, path, file_key)
    if source.kind is not Kind.IMAGE:
        raise InvalidRequest(NO_PREVIEW)
    file_id = source.content.dirent.id
    media_type = browser_media_type(source.name)
    if media_type is not None:
        return Rendered(source.content.chunks, media_type, file_id, source.encrypted,
                        size=source.content.size)
    png = source.cached("image.png")
    if png is None:
        limits = source.previews.limits
        image = _read_all(source, limits.max_image_bytes)
        png = source.keep("image.png", source.previews.renderer.browser_png(
            image, limits.max_image_pixels))
    return Rendered(png, "image/png", file_id, source.encrypted)
