"""Placement of a scope's copies: the first `copies` backends in the regions it allows."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Sequence

from sesamedisk.adapters.objects.replicated_state import NamedBackend
from sesamedisk.errors import InvalidRequest, SesameError, Unavailable

RegionsFor = Callable[[str], frozenset[str] | None]
"""regions_for(scope): the regions a scope's bytes may live in (None: any); may raise."""
CACHE_SIZE = 4096
"""Scopes whose placement is remembered (a library's regions never change)."""


class Placement:
    """Which backends hold a scope's copies; each scope's answer is cached."""

    def __init__(self, backends: Sequence[NamedBackend], *, copies: int | None, quorum: int,
                 regions_for: RegionsFor | None) -> None:
        names = [b.name for b in backends]
        if not backends or len(set(names)) != len(names):
            raise InvalidRequest("replicated store needs backends with unique names")
        copies = len(backends) if copies is None else copies
        if not 1 <= quorum <= copies <= len(backends):
            raise InvalidRequest(f"need 1 <= write quorum ({quorum}) <= copies ({copies}) "
                                 f"<= backends ({len(backends)})")
        self._backends = tuple(backends)
        self.copies = copies
        self.quorum = quorum
        self._regions_for = regions_for
        self._cached = functools.lru_cache(maxsize=CACHE_SIZE)(self._place)
        self._lock = threading.Lock()
        self._written: set[tuple[NamedBackend, ...]] = set()

    def _place(self, scope: str) -> tuple[NamedBackend, ...]:
        regions = None if self._regions_for is None else self._regions_for(scope)
        return self.in_regions(regions)

    def of(self, scope: str) -> tuple[NamedBackend, ...]:
        """The scope's backends; raises what regions_for raises, or InvalidRequest."""
        return self._cached(scope)

    def names(self, scope: str) -> frozenset[str]:
        """Names of the scope's backends."""
        return frozenset(b.name for b in self.of(scope))

    def names_or_none(self, scope: str) -> frozenset[str] | None:
        """Names of the scope's backends; None when it has none (Unavailable still raises)."""
        try:
            return self.names(scope)
        except Unavailable:
            raise
        except SesameError:
            return None

    def in_regions(self, regions: frozenset[str] | None) -> tuple[NamedBackend, ...]:
        """The first `copies` backends in `regions` (None: any); InvalidRequest below quorum."""
        chosen = tuple(b for b in self._backends
                       if regions is None or b.region in regions)[:self.copies]
        if len(chosen) < self.quorum:
            shown = ", ".join(sorted(regions or ())) or "(none)"
            raise InvalidRequest(f"regions {shown} hold only {len(chosen)} backends, fewer "
                                 f"than the write quorum {self.quorum}")
        return chosen

    def check(self, regions: frozenset[str] | None) -> None:
        """InvalidRequest unless a scope pinned to `regions` can be written."""
        if regions is not None:
            unknown = regions - {b.region for b in self._backends}
            if unknown:
                raise InvalidRequest(f"no backend is in region {', '.join(sorted(unknown))}")
        self.in_regions(regions)

    def writing_to(self, scope: str) -> tuple[NamedBackend, ...]:
        """The scope's backends, remembered as ones `flush` has to flush."""
        chosen = self.of(scope)
        with self._lock:
            self._written.add(chosen)
        return chosen

    def written(self) -> list[tuple[NamedBackend, ...]]:
        """Every placement written to since the store was made."""
        with self._lock:
            return list(self._written)
