"""The Renderer port over Pillow, pypdfium2, LibreOffice, Pygments and markdown-it-py."""

from __future__ import annotations

import threading
from pathlib import Path

from sesamedisk.adapters.previews import images, office, pdf, text


class LocalRenderer:
    """Renders in this process (images, PDFs, text) or a LibreOffice subprocess (office).

    Conversions run without network per `office_isolation` and never see `hidden` (the
    server's data folder, storage roots, config and database files) where mount namespaces
    work; `office_conversions` counts them.
    """

    def __init__(self, office_isolation: office.Isolation = "best-effort",
                 hidden: office.HiddenPaths | None = None) -> None:
        self.office_isolation: office.Isolation = office_isolation
        self.hidden = hidden or office.HiddenPaths()
        self.office_conversions = 0
        self._counter_lock = threading.Lock()

    def thumbnail(self, image: bytes, size: int, max_pixels: int) -> bytes:
        """A PNG whose longest side is at most `size`, upright by its EXIF orientation."""
        return images.thumbnail(image, size, max_pixels)

    def browser_png(self, image: bytes, max_pixels: int) -> bytes:
        """The image converted to PNG."""
        return images.browser_png(image, max_pixels)

    def pdf_page_count(self, pdf_path: Path) -> int:
        """How many pages the PDF has."""
        return pdf.page_count(pdf_path)

    def pdf_page_png(self, pdf_path: Path, index: int, longest_side: int) -> bytes:
        """Page `index` (0-based) as a PNG whose longest side is `longest_side`."""
        return pdf.page_png(pdf_path, index, longest_side)

    def office_to_pdf(self, source: Path, out_dir: Path, timeout: float) -> Path:
        """Convert an office document to PDF inside `out_dir`."""
        with self._counter_lock:
            self.office_conversions += 1
        return office.to_pdf(source, out_dir, timeout, isolation=self.office_isolation,
                             hidden=self.hidden)

    def highlight(self, source_text: str, filename: str) -> str:
        """Syntax-highlighted, escaped HTML."""
        return text.highlight(source_text, filename)

    def markdown(self, source_text: str) -> str:
        """Safe HTML of markdown."""
        return text.markdown(source_text)
