"""Token-authorised transfers under /seafhttp: file downloads, upload and update APIs (§10)."""

from __future__ import annotations

from starlette.routing import BaseRoute


def routes() -> list[BaseRoute]:
    """Every route of this module."""
    return []
