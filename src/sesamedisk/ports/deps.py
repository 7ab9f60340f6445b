"""Deps: the bundle of ports a service function receives."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sesamedisk.domain.retention import GcPolicy
from sesamedisk.ports.metadata import UnitOfWorkFactory
from sesamedisk.ports.objects import ObjectStore
from sesamedisk.ports.previews import Previews
from sesamedisk.ports.storage import StorageAdmin


def _wall_clock() -> int:
    return int(time.time())


def _nothing_to_close() -> None:
    return None


@dataclass(frozen=True)
class Deps:
    """Everything services need from the outside world."""

    uow: UnitOfWorkFactory
    objects: ObjectStore
    clock: Callable[[], int] = field(default=_wall_clock)
    close: Callable[[], None] = field(default=_nothing_to_close)
    """Releases database connections and other resources when the process is done."""
    storage: StorageAdmin | None = None
    """Health, scrub and repair of the stored copies (None in tests that need none)."""
    default_regions: frozenset[str] | None = None
    """Regions new libraries are pinned to when their creator names none."""
    gc_policy: GcPolicy = field(default_factory=GcPolicy)
    """History retention, trash time and grace period of garbage collection."""
    previews: Previews | None = None
    """Renderer, cache and scratch space of file previews (None: previews are off)."""
