"""fsck over the real app, database and local store: copies, history, retention, skipped rows."""

from __future__ import annotations

import hashlib
from pathlib import Path

from sesamedisk.domain.records import CREATING_HEAD, Library
from sesamedisk.services.fsck import fsck
from tests.plugins.app import App

ALICE = "alice@example.com"


def _library_with_files(app: App, *contents: bytes) -> str:
    """A library of alice's with /f.txt written once per content (a commit each)."""
    headers = app.login(ALICE)
    library_id = str(app.create_library(headers, "docs")["repo_id"])
    for content in contents:
        response = app.client.put(f"/api/v1/repos/{library_id}/file", params={"p": "/f.txt"},
                                  content=content, headers=headers)
        assert response.status_code == 201, response.text
    return library_id


def _block_file(app: App, library_id: str, content: bytes) -> Path:
    block_id = hashlib.sha1(content).hexdigest()
    return app.data / "objects" / library_id / "blocks" / block_id[:2] / block_id[2:]


def test_clean_store_checks_history_and_every_copy(app: App) -> None:
    _library_with_files(app, b"first version", b"second version")
    report = fsck(app.deps)
    assert report.ok, report.problems
    assert (report.libraries, report.commits, report.blocks) == (1, 3, 2)
    assert report.copies == 3 + report.fs_objects + 2


def test_corrupt_block_is_named_and_missing_block_found(app: App) -> None:
    library_id = _library_with_files(app, b"first version", b"second version")
    corrupt = _block_file(app, library_id, b"second version")
    corrupt.write_bytes(b"SECOND version")
    _block_file(app, library_id, b"first version").unlink()
    report = fsck(app.deps)
    first_id = hashlib.sha1(b"first version").hexdigest()
    second_id = hashlib.sha1(b"second version").hexdigest()
    where = f"library {library_id} (docs)"
    assert f"{where}: corrupt copy of blocks/{library_id}/{second_id} on backend local" \
        in report.problems
    assert f"{where}: missing block {first_id}" in report.problems
    assert not report.ok


def test_repair_cannot_fix_the_only_copy(app: App) -> None:
    library_id = _library_with_files(app, b"only copy")
    _block_file(app, library_id, b"only copy").write_bytes(b"rotten")
    report = fsck(app.deps, repair=True)
    assert report.repaired == 0
    assert not report.ok


def test_trees_outside_history_retention_are_not_required(app: App) -> None:
    library_id = _library_with_files(app, b"version one", b"version two", b"version three")
    _block_file(app, library_id, b"version one").unlink()
    assert not fsck(app.deps).ok
    with app.deps.uow() as uow:
        library = uow.libraries.get(library_id)
        assert library is not None
        far_future = app.deps.clock() + 3600
        assert uow.libraries.raise_gc_fence(library_id, head=library.head, gc_epoch=0,
                                            until=far_future, expired_before=far_future)
        assert uow.libraries.lower_gc_fence(library_id, gc_epoch=1)
        uow.commit()
    report = fsck(app.deps)
    assert report.ok, report.problems
    assert report.commits == 4


def test_library_being_created_is_skipped(app: App) -> None:
    _library_with_files(app, b"content")
    with app.deps.uow() as uow:
        owner = uow.users.get_by_email(ALICE)
        assert owner is not None
        uow.libraries.add(Library(id="3c5e7a9b-1d2f-4a6b-8c0d-2e4f6a8b0c1d", name="half made",
                                  description="", owner_id=owner.id, encryption=None,
                                  head=CREATING_HEAD, created_at=1, updated_at=1))
        uow.commit()
    report = fsck(app.deps)
    assert report.ok, report.problems
    assert report.libraries == 1


def test_trashed_library_is_checked_and_purging_one_skipped(app: App) -> None:
    library_id = _library_with_files(app, b"deleted content")
    response = app.client.delete(f"/api2/repos/{library_id}/", headers=app.login(ALICE))
    assert response.status_code == 200, response.text
    _block_file(app, library_id, b"deleted content").unlink()
    trashed = fsck(app.deps)
    assert trashed.libraries == 1
    assert any("missing block" in line for line in trashed.problems)
    with app.deps.uow() as uow:
        uow.libraries.mark_purging(library_id, now=app.deps.clock())
        uow.commit()
    purging = fsck(app.deps)
    assert purging.ok, purging.problems
    assert purging.libraries == 0


def test_bad_copies_of_unreferenced_objects_are_garbage_not_problems(app: App) -> None:
    library_id = _library_with_files(app, b"kept")
    # A block an interrupted upload left behind, rotten on disk: no version needs it.
    orphan = _block_file(app, library_id, b"never committed")
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(b"rotten and never committed")
    report = fsck(app.deps)
    assert report.ok, report.problems
    assert report.garbage_copies == 1
    # The same rot in a referenced block is a problem.
    _block_file(app, library_id, b"kept").write_bytes(b"KEPT")
    report = fsck(app.deps)
    assert not report.ok
    assert report.garbage_copies == 1
