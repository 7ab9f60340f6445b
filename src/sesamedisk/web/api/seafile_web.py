"""Seafile's web-style api2 and api/v2.1 endpoints for mobile apps and SeaDrive (spec §10)."""

from __future__ import annotations

from starlette.routing import BaseRoute


def routes() -> list[BaseRoute]:
    """Every route of this module."""
    return []
