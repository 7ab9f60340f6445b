"""The browser UI: static files and the single page served at /."""

from __future__ import annotations

from starlette.routing import BaseRoute


def routes() -> list[BaseRoute]:
    """Every route of this module."""
    return []
