"""Real peers (seaf-cli, PostgreSQL, ...): in CI a missing peer fails, elsewhere it skips."""

from __future__ import annotations

import os

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_peer(available: bool, what: str) -> None:
    """Fail (in CI) or skip (on a laptop) when a real peer the test needs is missing."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"required real peer is missing in CI: {what}")
    pytest.skip(f"real peer not available here: {what}")
