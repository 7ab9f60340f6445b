"""pypdfium2: page counts and page rendering of PDFs (one PDFium call at a time)."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import pypdfium2 as pdfium

from sesamedisk.errors import InvalidRequest, NotFound

_PDFIUM = threading.Lock()
"""PDFium is not thread-safe: every use goes through this lock."""
MAX_PAGE_PIXELS = 40_000_000


def _open(pdf: Path) -> pdfium.PdfDocument:
    try:
        return pdfium.PdfDocument(str(pdf))
    except pdfium.PdfiumError as exc:
        raise InvalidRequest("the file is not a readable PDF") from exc


def page_count(pdf: Path) -> int:
    """The number of pages."""
    with _PDFIUM:
        document = _open(pdf)
        try:
            return len(document)
        finally:
            document.close()


def page_png(pdf: Path, index: int, longest_side: int) -> bytes:
    """Render one page so that its longest side has `longest_side` pixels."""
    with _PDFIUM:
        document = _open(pdf)
        try:
            if not 0 <= index < len(document):
                raise NotFound(f"the document has no page {index + 1}")
            page = document[index]
            try:
                width, height = page.get_size()
                scale = longest_side / max(width, height, 1.0)
                if width * height * scale * scale > MAX_PAGE_PIXELS:
                    raise InvalidRequest("the page is too large to render")
                image = page.render(scale=scale).to_pil()
            finally:
                page.close()
        finally:
            document.close()
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()
