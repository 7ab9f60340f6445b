"""History and recovery: commits, snapshots, file versions, restore, revert, trash."""

from __future__ import annotations

from starlette.routing import BaseRoute


def routes() -> list[BaseRoute]:
    """Every route of this module."""
    return []
