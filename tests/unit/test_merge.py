"""Three-way merge of fs trees: the rules of spec §7, conflict names, and properties."""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest
from hypothesis import given, settings

from sesamedisk.domain import tree
from sesamedisk.domain.ids import EMPTY_ID
from sesamedisk.domain.merge import MergeResult, conflict_name, conflict_timestamp, merge_trees
from sesamedisk.domain.objects import MODE_EXECUTABLE, Dirent
from tests.unit.test_tree import MemoryFs, Model, T, apply_ops, build, file_dirent, ops

EMAIL = "user@example.com"
STAMP = "2026-11-24-05-07-33"


def merge(fs: MemoryFs, base: str, head: str, new: str, email: str | None = EMAIL
          ) -> MergeResult:
    return merge_trees(fs, fs, base_root=base, head_root=head, new_root=new,
                       conflict_email=email, timestamp=STAMP)


def files(fs: MemoryFs, root: str) -> dict[str, Dirent]:
    return {p: d for p, d in tree.walk(fs, root) if not d.is_dir}


def names_in(fs: MemoryFs, root: str, path: str = "/") -> list[str]:
    return sorted(d.name for d in tree.list_dir(fs, root, path).dirents)


# ---- conflict names --------------------------------------------------------------------


def test_observed_conflict_name() -> None:
    assert conflict_name("hello.txt", EMAIL, STAMP) == (
        "hello (SFConflict user@example.com 2026-11-24-05-07-33).txt")


@pytest.mark.parametrize(("name", "email", "expected"), [
    ("README", EMAIL, f"README (SFConflict {EMAIL} {STAMP})"),
    ("a.tar.gz", EMAIL, f"a.tar (SFConflict {EMAIL} {STAMP}).gz"),
    (".bashrc", EMAIL, f".bashrc (SFConflict {EMAIL} {STAMP})"),
    (".config.json", EMAIL, f".config (SFConflict {EMAIL} {STAMP}).json"),
    ("notes.", EMAIL, f"notes (SFConflict {EMAIL} {STAMP})."),
    ("hello.txt", None, f"hello (SFConflict {STAMP}).txt"),
    ("hello.txt", "", f"hello (SFConflict {STAMP}).txt"),
])
def test_conflict_name_forms(name: str, email: str | None, expected: str) -> None:
    assert conflict_name(name, email, STAMP) == expected


def test_conflict_name_for_folders_and_counters() -> None:
    assert conflict_name("v1.2", EMAIL, STAMP, is_dir=True) == f"v1.2 (SFConflict {EMAIL} {STAMP})"
    assert conflict_name("a.txt", EMAIL, STAMP, counter=2) == (
        f"a (SFConflict {EMAIL} {STAMP}) (2).txt")


def test_conflict_name_stays_within_255_bytes() -> None:
    name = "é" * 120 + ".txt"
    alias = conflict_name(name, EMAIL, STAMP)
    assert len(alias.encode()) <= 255
    assert alias.endswith(f" (SFConflict {EMAIL} {STAMP}).txt")
    assert alias.startswith("é" * 10)


@pytest.fixture
def local_tz(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "JST-9")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("local_tz")
def test_conflict_timestamp_is_local_time() -> None:
    assert conflict_timestamp(0) == "1970-01-01-09-00-00"
    assert conflict_timestamp(1795497715) == time.strftime(
        "%Y-%m-%d-%H-%M-%S", time.gmtime(1795497715 + 9 * 3600))


# ---- rules -----------------------------------------------------------------------------


def test_one_side_unchanged_takes_the_other_including_deletion() -> None:
    fs = MemoryFs()
    base = build(fs, {"a": file_dirent("a", b"1"), "b": file_dirent("b", b"2"),
                      "d": {"x": file_dirent("x", b"3")}})
    head = build(fs, {"a": file_dirent("a", b"1"), "d": {"x": file_dirent("x", b"3")}})
    new = build(fs, {"a": file_dirent("a", b"changed"), "b": file_dirent("b", b"2"),
                     "d": {}})
    result = merge(fs, base, head, new)
    assert result.conflicts == ()
    assert result.root_id == build(MemoryFs(), {"a": file_dirent("a", b"changed"), "d": {}})


def test_identical_changes_are_kept_once() -> None:
    fs = MemoryFs()
    base = build(fs, {"a": file_dirent("a", b"1"), "k": file_dirent("k", b"k")})
    head = build(fs, {"a": file_dirent("a", b"2"), "k": file_dirent("k", b"k"),
                      "n": file_dirent("n", b"n")})
    new = build(fs, {"a": file_dirent("a", b"2", mtime=T + 5), "n": file_dirent("n", b"n"),
                     "k": file_dirent("k", b"k")})
    result = merge(fs, base, head, new)
    assert result.conflicts == ()
    assert files(fs, result.root_id)["/a"] == file_dirent("a", b"2"), "head's entry is kept"
    assert names_in(fs, result.root_id) == ["a", "k", "n"]


def test_different_file_changes_conflict() -> None:
    fs = MemoryFs()
    base = build(fs, {"d": {"hello.txt": file_dirent("hello.txt", b"base")}})
    head = build(fs, {"d": {"hello.txt": file_dirent("hello.txt", b"server")}})
    new = build(fs, {"d": {"hello.txt": file_dirent("hello.txt", b"client")}})
    result = merge(fs, base, head, new)
    alias = "hello (SFConflict user@example.com 2026-11-24-05-07-33).txt"
    assert result.conflicts == (f"/d/{alias}",)
    got = files(fs, result.root_id)
    assert got["/d/hello.txt"] == file_dirent("hello.txt", b"server")
    assert got[f"/d/{alias}"] == file_dirent(alias, b"client")
    assert len(got) == 2


def test_files_added_on_both_sides_conflict_and_taken_aliases_get_counters() -> None:
    fs = MemoryFs()
    alias = conflict_name("a.txt", EMAIL, STAMP)
    alias1 = conflict_name("a.txt", EMAIL, STAMP, counter=1)
    base = EMPTY_ID
    head = build(fs, {"a.txt": file_dirent("a.txt", b"h"), alias: file_dirent(alias, b"old")})
    new = build(fs, {"a.txt": file_dirent("a.txt", b"n")})
    result = merge(fs, base, head, new)
    got = files(fs, result.root_id)
    assert got["/a.txt"].id == file_dirent("a.txt", b"h").id
    assert got[f"/{alias}"].id == file_dirent(alias, b"old").id
    assert got[f"/{alias1}"].id == file_dirent(alias, b"n").id
    assert result.conflicts == (f"/{alias1}",)


def test_folders_merge_recursively_with_max_mtime() -> None:
    fs = MemoryFs()
    base = build(fs, {"d": {"keep": file_dirent("keep", b"k")}})
    head = tree.put_entry(fs, fs, base, "/d", file_dirent("x", b"x"), mtime=T + 10)
    new = tree.put_entry(fs, fs, base, "/d", file_dirent("y", b"y"), mtime=T + 20)
    result = merge(fs, base, head, new)
    assert result.conflicts == ()
    assert names_in(fs, result.root_id, "/d") == ["keep", "x", "y"]
    d = tree.lookup(fs, result.root_id, "/d")
    assert d is not None
    assert d.mtime == T + 20
    assert merge(fs, base, new, head).root_id == result.root_id


def test_modify_versus_delete_keeps_the_modification() -> None:
    fs = MemoryFs()
    base = build(fs, {"f": file_dirent("f", b"1"), "g": file_dirent("g", b"1")})
    head = build(fs, {"f": file_dirent("f", b"2")})
    new = build(fs, {"g": file_dirent("g", b"2")})
    result = merge(fs, base, head, new)
    assert result.conflicts == ()
    assert files(fs, result.root_id) == {"/f": file_dirent("f", b"2"),
                                         "/g": file_dirent("g", b"2")}


def test_deleted_folder_keeps_only_what_the_other_side_changed() -> None:
    fs = MemoryFs()
    base = build(fs, {"d": {"a": file_dirent("a", b"1"), "b": file_dirent("b", b"1")},
                      "e": {"c": file_dirent("c", b"1")}})
    head = build(fs, {"e": {"c": file_dirent("c", b"1")}})
    new = build(fs, {"d": {"a": file_dirent("a", b"2"), "b": file_dirent("b", b"1")},
                     "e": {"c": file_dirent("c", b"1"), "z": file_dirent("z", b"z")}})
    result = merge(fs, base, head, new)
    assert set(files(fs, result.root_id)) == {"/d/a", "/e/c", "/e/z"}
    untouched = build(fs, {"d": {"a": file_dirent("a", b"1"), "b": file_dirent("b", b"1")},
                           "e": {"c": file_dirent("c", b"1"), "z": file_dirent("z", b"z")}})
    assert tree.lookup(fs, merge(fs, base, head, untouched).root_id, "/d") is None
    d_entry = tree.lookup(fs, base, "/d")
    assert d_entry is not None
    touched = tree.put_entry(fs, fs, base, "/", replace(d_entry, mtime=1), mtime=T)
    assert touched != base
    assert tree.lookup(fs, merge(fs, base, head, touched).root_id, "/d") is None


@pytest.mark.parametrize("head_is_file", [True, False])
def test_file_versus_folder_keeps_head_under_the_name(head_is_file: bool) -> None:
    fs = MemoryFs()
    base = build(fs, {})
    as_file = build(fs, {"x.d": file_dirent("x.d", b"file")})
    as_dir = build(fs, {"x.d": {"inner": file_dirent("inner", b"i")}})
    head, new = (as_file, as_dir) if head_is_file else (as_dir, as_file)
    result = merge(fs, base, head, new)
    kept = tree.lookup(fs, result.root_id, "/x.d")
    assert kept is not None
    assert kept.is_dir != head_is_file
    other = (f"x.d (SFConflict {EMAIL} {STAMP})" if head_is_file
             else f"x (SFConflict {EMAIL} {STAMP}).d")
    moved = tree.lookup(fs, result.root_id, f"/{other}")
    assert moved is not None
    assert moved.is_dir == head_is_file
    assert result.conflicts == (f"/{other}",)


def test_mode_change_against_content_change_conflicts() -> None:
    fs = MemoryFs()
    f = file_dirent("run.sh", b"x")
    base = build(fs, {"run.sh": f})
    head = build(fs, {"run.sh": Dirent(id=f.id, mode=MODE_EXECUTABLE, mtime=T, name="run.sh",
                                       modifier=f.modifier, size=f.size)})
    new = build(fs, {"run.sh": file_dirent("run.sh", b"y")})
    result = merge(fs, base, head, new)
    assert len(result.conflicts) == 1


def test_unchanged_subtrees_are_not_read() -> None:
    fs = MemoryFs()
    big: Model = {f"s{i}": {"f": file_dirent("f", str(i).encode())} for i in range(50)}
    base = build(fs, {"big": big, "w": {"a": file_dirent("a", b"a")}})
    head = tree.put_entry(fs, fs, base, "/w", file_dirent("h", b"h"), mtime=T)
    new = tree.put_entry(fs, fs, base, "/w", file_dirent("n", b"n"), mtime=T)
    fs.loads = 0
    merge(fs, base, head, new)
    assert fs.loads == 6, "three roots and three versions of /w, nothing under /big"


def test_deep_merge() -> None:
    fs = MemoryFs()
    deep = "/" + "/".join(["d"] * 1200)
    base = tree.put_entry(fs, fs, EMPTY_ID, deep, file_dirent("f", b"x"), mtime=T)
    head = tree.put_entry(fs, fs, base, deep, file_dirent("h", b"h"), mtime=T)
    new = tree.put_entry(fs, fs, base, deep, file_dirent("n", b"n"), mtime=T)
    result = merge(fs, base, head, new)
    assert names_in(fs, result.root_id, deep) == ["f", "h", "n"]


# ---- properties ------------------------------------------------------------------------


Ops = list[tuple[str, list[str], str, bytes]]


def grow(fs: MemoryFs, model: Model, root: str, operations: Ops) -> tuple[Model, str]:
    """Apply `operations` to a copy of `model` (whose tree is `root`)."""
    mine = copy.deepcopy(model)
    return mine, apply_ops(fs, mine, root, operations)


def scoped(operations: Ops, top: str
           ) -> Ops:
    return [(kind, [top, *parts], name, content) for kind, parts, name, content in operations]


@settings(max_examples=100, deadline=None)
@given(ops, ops)
def test_one_sided_merges_return_the_changed_side(
        first: Ops,
        second: Ops) -> None:
    fs = MemoryFs()
    model, base = grow(fs, {}, EMPTY_ID, first)
    _, changed = grow(fs, model, base, second)
    assert merge(fs, base, changed, base).root_id == changed
    assert merge(fs, base, base, changed).root_id == changed
    assert merge(fs, base, changed, changed) == MergeResult(changed, ())


@settings(max_examples=100, deadline=None)
@given(ops, ops, ops)
def test_disjoint_changes_combine(base_ops: Ops,
                                  head_ops: Ops,
                                  new_ops: Ops) -> None:
    fs = MemoryFs()
    model, base = grow(fs, {}, EMPTY_ID, scoped(base_ops, "h") + scoped(base_ops, "n"))
    _, combined = grow(fs, model, base, scoped(head_ops, "h") + scoped(new_ops, "n"))
    _, head = grow(fs, model, base, scoped(head_ops, "h"))
    _, new = grow(fs, model, base, scoped(new_ops, "n"))
    result = merge(fs, base, head, new)
    assert result == MergeResult(combined, ())
    assert merge(fs, base, new, head) == result


@settings(max_examples=200, deadline=None)
@given(ops, ops, ops)
def test_no_change_is_lost(base_ops: Ops,
                           head_ops: Ops,
                           new_ops: Ops) -> None:
    fs = MemoryFs()
    model, base = grow(fs, {}, EMPTY_ID, base_ops)
    _, head = grow(fs, model, base, head_ops)
    _, new = grow(fs, model, base, new_ops)
    result = merge(fs, base, head, new)
    before = files(fs, base)
    merged = files(fs, result.root_id)
    merged_ids = {d.id for d in merged.values()}
    sides = (files(fs, head), files(fs, new))
    for side in sides:
        for path, dirent in side.items():
            old = before.get(path)
            if old is None or old.id != dirent.id:
                assert dirent.id in merged_ids, f"change at {path} was lost"
    known = {d.id for side in sides for d in side.values()}
    assert merged_ids <= known, "the merge invents no content"
    for path in result.conflicts:
        assert tree.lookup(fs, result.root_id, path) is not None
        assert "(SFConflict user@example.com 2026-11-24-05-07-33)" in path
    assert merge(fs, base, head, new) == result, "merging is deterministic"
