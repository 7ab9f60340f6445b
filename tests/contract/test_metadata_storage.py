"""Contract tests of the library storage columns: residency, the GC fence, purging."""

from __future__ import annotations

import dataclasses

from sesamedisk.domain.records import Library
from tests.contract.test_metadata import (
    HEAD_0,
    HEAD_1,
    UowFactory,
    add_library,
    add_user,
    make_library,
)


def _get(uow_factory: UowFactory, library_id: str) -> Library:
    with uow_factory() as uow:
        library = uow.libraries.get(library_id, include_deleted=True)
    assert library is not None
    return library


def test_regions_round_trip(uow_factory: UowFactory) -> None:
    user = add_user(uow_factory)
    pinned = add_library(uow_factory, dataclasses.replace(
        make_library(user.id), regions=frozenset({"eu", "ch"})))
    anywhere = add_library(uow_factory, make_library(user.id, name="Other"))
    assert _get(uow_factory, pinned.id).regions == frozenset({"eu", "ch"})
    assert _get(uow_factory, anywhere.id).regions is None


def test_fence_blocks_head_moves_and_bumps_the_epoch(uow_factory: UowFactory) -> None:
    library = add_library(uow_factory, make_library(add_user(uow_factory).id))
    assert _get(uow_factory, library.id).gc_epoch == 0
    with uow_factory() as uow:
        assert uow.libraries.raise_gc_fence(library.id, head=HEAD_0, gc_epoch=0, until=500,
                                            expired_before=42)
        uow.commit()
    fenced = _get(uow_factory, library.id)
    assert (fenced.gc_epoch, fenced.gc_fence_until, fenced.expired_before) == (1, 500, 42)
    assert fenced.fenced(now=499)
    assert not fenced.fenced(now=500)
    with uow_factory() as uow:
        # A writer that read the old epoch, or the odd one, cannot move the head.
        assert not uow.libraries.advance_head(library.id, expected=HEAD_0, new=HEAD_1, now=1,
                                              gc_epoch=0)
        assert not uow.libraries.advance_head(library.id, expected=HEAD_0, new=HEAD_1, now=1,
                                              gc_epoch=1)
        # A second collector cannot take the fence.
        assert not uow.libraries.raise_gc_fence(library.id, head=HEAD_0, gc_epoch=1,
                                                until=900, expired_before=0)
        assert uow.libraries.lower_gc_fence(library.id, gc_epoch=1)
        uow.commit()
    lowered = _get(uow_factory, library.id)
    assert (lowered.gc_epoch, lowered.gc_fence_until) == (2, None)
    with uow_factory() as uow:
        assert uow.libraries.advance_head(library.id, expected=HEAD_0, new=HEAD_1, now=1,
                                          gc_epoch=2)
        uow.commit()
    assert _get(uow_factory, library.id).head == HEAD_1


def test_fence_needs_the_planned_head(uow_factory: UowFactory) -> None:
    library = add_library(uow_factory, make_library(add_user(uow_factory).id, head=HEAD_1))
    with uow_factory() as uow:
        assert not uow.libraries.raise_gc_fence(library.id, head=HEAD_0, gc_epoch=0,
                                                until=500, expired_before=0)
    assert _get(uow_factory, library.id).gc_epoch == 0


def test_only_a_lapsed_fence_is_cleared_by_others(uow_factory: UowFactory) -> None:
    library = add_library(uow_factory, make_library(add_user(uow_factory).id))
    with uow_factory() as uow:
        assert uow.libraries.raise_gc_fence(library.id, head=HEAD_0, gc_epoch=0, until=500,
                                            expired_before=0)
        assert not uow.libraries.lower_gc_fence(library.id, gc_epoch=1, expired_by=499)
        assert uow.libraries.lower_gc_fence(library.id, gc_epoch=1, expired_by=500)
        # The collector whose fence lapsed learns that it lost it.
        assert not uow.libraries.lower_gc_fence(library.id, gc_epoch=1)
        uow.commit()
    assert _get(uow_factory, library.id).gc_epoch == 2


def test_purge_lifecycle(uow_factory: UowFactory) -> None:
    user = add_user(uow_factory)
    old = add_library(uow_factory, make_library(user.id, name="Old"))
    recent = add_library(uow_factory, make_library(user.id, name="Recent"))
    live = add_library(uow_factory, make_library(user.id, name="Live"))
    with uow_factory() as uow:
        uow.libraries.mark_deleted(old.id, now=100)
        uow.libraries.mark_deleted(recent.id, now=900)
        uow.commit()
    with uow_factory() as uow:
        assert list(uow.libraries.list_purgeable(deleted_before=500)) == [old.id]
        assert not uow.libraries.is_purging(old.id)
        uow.libraries.mark_purging(old.id, now=600)
        uow.libraries.mark_purging(live.id, now=600)
        uow.commit()
    with uow_factory() as uow:
        assert uow.libraries.is_purging(old.id)
        assert not uow.libraries.is_purging(live.id)
        uow.libraries.remove(old.id)
        uow.commit()
    with uow_factory() as uow:
        assert uow.libraries.get(old.id, include_deleted=True) is None
        assert uow.libraries.get(live.id) is not None
