"""Deps: the bundle of ports a service function receives."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sesamedisk.ports.metadata import UnitOfWorkFactory
from sesamedisk.ports.objects import ObjectStore


def _wall_clock() -> int:
    import time

    return int(time.time())


@dataclass(frozen=True)
class Deps:
    """Everything services need from the outside world."""

    uow: UnitOfWorkFactory
    objects: ObjectStore
    clock: Callable[[], int] = field(default=_wall_clock)
