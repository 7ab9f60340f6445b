"""Web UI session: log in, log out, who am I (cookie-based)."""

from __future__ import annotations

from starlette.routing import BaseRoute


def routes() -> list[BaseRoute]:
    """Every route of this module."""
    return []
