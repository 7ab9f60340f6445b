"""Previews and thumbnails of images, PDFs, text and office documents."""

from __future__ import annotations

from starlette.routing import BaseRoute


def routes() -> list[BaseRoute]:
    """Every route of this module."""
    return []
