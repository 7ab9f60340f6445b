"""Finding a file without its key, LibraryLocked for a locked one, and one-library transfers."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from sesamedisk.domain.records import User
from sesamedisk.errors import InvalidRequest, LibraryLocked, PathNotFound
from sesamedisk.services import accounts, client_reads, cross_library, downloads, files, libraries
from tests.plugins.app import PASSWORD, App

ALICE = "alice@example.com"


def _alice(app: App) -> User:
    return accounts.check_credentials(app.deps, email=ALICE, password=PASSWORD)


def test_a_locked_library_finds_files_but_reads_nothing(app: App) -> None:
    alice = _alice(app)
    vault = libraries.create_library(app.deps, alice, name="vault", password="s3cret")
    key = libraries.unlock_library(app.deps, alice, vault.id, "s3cret")
    written = files.put_file(app.deps, alice, vault.id, "/d/v.txt", [b"vault bytes"],
                             file_key=key)

    found = files.find_file(app.deps, alice, vault.id, "d//v.txt")  # no key needed
    assert (found.library.id, found.dirent, found.file_obj.size) == (vault.id, written, 11)
    blocks = client_reads.file_blocks(app.deps, alice, vault.id, "/d/v.txt")
    assert (blocks.file_id, blocks.block_ids) == (written.id, found.file_obj.block_ids)

    locked: list[Callable[[], object]] = [
        lambda: files.open_file(app.deps, alice, vault.id, "/d/v.txt"),
        lambda: files.read_file(app.deps, alice, vault.id, "/d/v.txt"),
        lambda: downloads.zip_folder(app.deps, alice, vault.id, "/d"),
        lambda: files.put_file(app.deps, alice, vault.id, "/d/w.txt", [b"more"]),
    ]
    for attempt in locked:
        with pytest.raises(LibraryLocked, match=vault.id):
            attempt()
    assert [d.name for d in files.list_dir(app.deps, alice, vault.id, "/d").dirents] == [
        "v.txt"], "a locked write stored nothing"
    opened = files.open_file(app.deps, alice, vault.id, "/d/v.txt", file_key=key)
    assert (opened.dirent, opened.key) == (written, key)


def test_find_file_refuses_folders_and_missing_paths(app: App) -> None:
    alice = _alice(app)
    plain = libraries.create_library(app.deps, alice, name="plain")
    files.make_dir(app.deps, alice, plain.id, "/folder")
    for path in ("/folder", "/missing.txt", "/folder/missing.txt", "/"):
        with pytest.raises(PathNotFound):
            files.find_file(app.deps, alice, plain.id, path)
    files.put_file(app.deps, alice, plain.id, "/a.txt", [b"plain"])
    other_key = libraries.unlock_library(
        app.deps, alice, libraries.create_library(app.deps, alice, name="v", password="pw").id,
        "pw")
    opened = files.open_file(app.deps, alice, plain.id, "/a.txt", file_key=other_key)
    assert opened.key is None, "a plain library ignores any key"


def test_one_library_transfers_go_through_copy_path_and_move_path(app: App) -> None:
    alice = _alice(app)
    plain = libraries.create_library(app.deps, alice, name="plain")
    files.put_file(app.deps, alice, plain.id, "/a.txt", [b"alpha"])
    files.make_dir(app.deps, alice, plain.id, "/sub")

    copied = cross_library.transfer_between(app.deps, alice, plain.id, "/a.txt", plain.id, "/",
                                            move=False)
    assert copied == "/a (1).txt"
    moved = cross_library.transfer_between(app.deps, alice, plain.id, "/a.txt", plain.id,
                                           "/sub", move=True)
    assert moved == "/sub/a.txt"
    with pytest.raises(InvalidRequest, match="a folder cannot be moved into itself"):
        cross_library.transfer_between(app.deps, alice, plain.id, "/sub", plain.id,
                                       "/sub", move=True)
    names = sorted(d.name for d in files.list_dir(app.deps, alice, plain.id).dirents)
    assert names == ["a (1).txt", "sub"]


def test_relocation_normalises_and_refuses_the_root() -> None:
    wanted = files.relocation("a//b.txt", "dst/", None, verb="copied")
    assert (wanted.src, wanted.dst_parent, wanted.name) == ("/a/b.txt", "/dst", "b.txt")
    assert files.relocation("/a", "/", "c", verb="moved").name == "c"
    for verb in ("copied", "moved"):
        with pytest.raises(InvalidRequest, match=f"cannot be {verb}"):
            files.relocation("/", "/x", None, verb=verb)
    with pytest.raises(InvalidRequest):
        files.relocation("/a", "/", "bad/name", verb="copied")
