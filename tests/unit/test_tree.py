"""Tree operations over an in-memory fs store: paths, walks, id lists and diffs."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Union

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sesamedisk.domain import codec, tree
from sesamedisk.domain.ids import EMPTY_ID
from sesamedisk.domain.objects import (
    MODE_DIR,
    MODE_EXECUTABLE,
    MODE_FILE,
    Dirent,
    DirObject,
    FsObject,
)
from sesamedisk.errors import AlreadyExists, InvalidRequest, PathNotFound

T = 1_700_000_000


class MemoryFs:
    """FsReader + FsWriter over a dict, storing the exact encoded JSON like a real store."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.loads = 0

    def put(self, obj: FsObject) -> str:
        object_id = codec.fs_id(obj)
        if object_id != EMPTY_ID:
            self.objects[object_id] = codec.encode_fs(obj)
        return object_id

    def load_dir(self, dir_id: str) -> DirObject:
        assert dir_id != EMPTY_ID, "tree code must not ask the reader for EMPTY_ID"
        self.loads += 1
        obj = codec.decode_fs_json(self.objects[dir_id])
        assert isinstance(obj, DirObject)
        return obj


def file_dirent(name: str, content: bytes, mtime: int = T) -> Dirent:
    fid = EMPTY_ID if not content else hashlib.sha1(content).hexdigest()
    return Dirent(id=fid, mode=MODE_FILE, mtime=mtime, name=name, modifier="u@example.com",
                  size=len(content))


Model = dict[str, Union[Dirent, "Model"]]


def build(fs: MemoryFs, model: Model) -> str:
    """Root id of the tree described by `model` (folders all get mtime T)."""
    dirents = [value if isinstance(value, Dirent) else
               Dirent(id=build(fs, value), mode=MODE_DIR, mtime=T, name=name)
               for name, value in model.items()]
    return tree.store(fs, DirObject.of(dirents))


def flatten(model: Model, prefix: str = "") -> dict[str, Dirent | None]:
    """path → file dirent, or None for a folder."""
    out: dict[str, Dirent | None] = {}
    for name, value in model.items():
        path = f"{prefix}/{name}"
        if isinstance(value, Dirent):
            out[path] = value
        else:
            out[path] = None
            out.update(flatten(value, path))
    return out


# ---- concrete behaviour ---------------------------------------------------------------


def test_lookup_and_list_dir() -> None:
    fs = MemoryFs()
    root = build(fs, {"a": {"b": {"f.txt": file_dirent("f.txt", b"x")}}, "g": file_dirent(
        "g", b"y")})
    assert tree.lookup(fs, root, "/") == Dirent(id=root, mode=MODE_DIR, mtime=0, name="")
    found = tree.lookup(fs, root, "/a//b/f.txt")
    assert found == file_dirent("f.txt", b"x")
    assert tree.lookup(fs, root, "/a/missing") is None
    assert tree.lookup(fs, root, "/g/inside-a-file") is None
    assert [d.name for d in tree.list_dir(fs, root, "/a/b").dirents] == ["f.txt"]
    for bad in ("/g", "/nope", "/a/b/f.txt"):
        with pytest.raises(PathNotFound):
            tree.list_dir(fs, root, bad)
    assert tree.list_dir(fs, EMPTY_ID, "/") == DirObject()
    assert fs.loads > 0


def test_put_entry_creates_parents_and_sets_mtimes() -> None:
    fs = MemoryFs()
    root = build(fs, {"a": {"keep": file_dirent("keep", b"k")}})
    new = tree.put_entry(fs, fs, root, "/a/b/c", file_dirent("f", b"data", mtime=5), mtime=99)
    a = tree.lookup(fs, new, "/a")
    b = tree.lookup(fs, new, "/a/b")
    c = tree.lookup(fs, new, "/a/b/c")
    assert a is not None
    assert b is not None
    assert c is not None
    assert a.mtime == T, "other ancestors keep their mtime"
    assert (b.mtime, b.mode) == (99, MODE_DIR), "created folders get mtime"
    assert c.mtime == 99, "the direct parent gets the new mtime"
    assert tree.lookup(fs, new, "/a/b/c/f") == file_dirent("f", b"data", mtime=5)
    assert tree.lookup(fs, new, "/a/keep") is not None
    assert tree.lookup(fs, root, "/a/b") is None, "the old tree is untouched"


def test_put_entry_replaces_and_bumps_only_direct_parent() -> None:
    fs = MemoryFs()
    root = build(fs, {"a": {"b": {"f": file_dirent("f", b"1")}}})
    new = tree.put_entry(fs, fs, root, "/a/b", file_dirent("f", b"2"), mtime=7)
    assert tree.lookup(fs, new, "/a/b/f") == file_dirent("f", b"2")
    assert [d.mtime for d in tree.list_dir(fs, new, "/a").dirents] == [7]
    assert [d.mtime for d in tree.list_dir(fs, new, "/").dirents] == [T]


def test_put_entry_errors() -> None:
    fs = MemoryFs()
    root = build(fs, {"file": file_dirent("file", b"x")})
    with pytest.raises(AlreadyExists):
        tree.put_entry(fs, fs, root, "/file/sub", file_dirent("y", b"y"), mtime=1)
    with pytest.raises(PathNotFound):
        tree.put_entry(fs, fs, root, "/missing", file_dirent("y", b"y"), mtime=1,
                       create_parents=False)
    for bad in ("..", "a/b", "", "x\0"):
        with pytest.raises(InvalidRequest):
            tree.put_entry(fs, fs, root, "/", file_dirent(bad, b"y"), mtime=1)


def test_put_into_empty_root_and_remove_back_to_empty() -> None:
    fs = MemoryFs()
    root = tree.put_entry(fs, fs, EMPTY_ID, "/", file_dirent("a", b"a"), mtime=1)
    assert root != EMPTY_ID
    assert tree.remove_entry(fs, fs, root, "/a") == EMPTY_ID
    nested = tree.put_entry(fs, fs, EMPTY_ID, "/x/y", file_dirent("a", b"a"), mtime=1)
    assert tree.remove_entry(fs, fs, nested, "/x/y/a") != EMPTY_ID, "empty folders remain"
    empty_dir = Dirent(id=EMPTY_ID, mode=MODE_DIR, mtime=3, name="d")
    with_dir = tree.put_entry(fs, fs, EMPTY_ID, "/", empty_dir, mtime=3)
    assert list(tree.walk(fs, with_dir)) == [("/d", empty_dir)]


def test_remove_entry() -> None:
    fs = MemoryFs()
    root = build(fs, {"a": {"b": {"f": file_dirent("f", b"1")}, "g": file_dirent("g", b"2")}})
    new = tree.remove_entry(fs, fs, root, "/a/b", mtime=42)
    assert tree.lookup(fs, new, "/a/b") is None
    a = tree.lookup(fs, new, "/a")
    assert a is not None
    assert a.mtime == 42
    same = tree.remove_entry(fs, fs, root, "/a/g")
    a_same = tree.lookup(fs, same, "/a")
    assert a_same is not None
    assert a_same.mtime == T
    for missing in ("/nope", "/a/nope", "/a/g/x", "/a/b/f/x"):
        with pytest.raises(PathNotFound):
            tree.remove_entry(fs, fs, root, missing)
    with pytest.raises(InvalidRequest):
        tree.remove_entry(fs, fs, root, "/")


def test_move_entry() -> None:
    fs = MemoryFs()
    f = file_dirent("f", b"1", mtime=3)
    root = build(fs, {"a": {"f": f, "sub": {}}, "b": {"taken": file_dirent("taken", b"t")}})
    renamed = tree.move_entry(fs, fs, root, "/a/f", "/a", "g", mtime=50)
    assert tree.lookup(fs, renamed, "/a/f") is None
    assert tree.lookup(fs, renamed, "/a/g") == Dirent(id=f.id, mode=f.mode, mtime=3, name="g",
                                                        modifier=f.modifier, size=f.size)
    moved = tree.move_entry(fs, fs, root, "/a", "/b", "a2", mtime=50)
    assert tree.lookup(fs, moved, "/a") is None
    assert tree.lookup(fs, moved, "/b/a2/f") == f
    b = tree.lookup(fs, moved, "/b")
    assert b is not None
    assert b.mtime == 50
    assert tree.move_entry(fs, fs, root, "/a/f", "/a/", "f", mtime=50) == root
    with pytest.raises(AlreadyExists):
        tree.move_entry(fs, fs, root, "/a/f", "/b", "taken", mtime=1)
    with pytest.raises(InvalidRequest):
        tree.move_entry(fs, fs, root, "/a", "/a/sub", "a", mtime=1)
    with pytest.raises(InvalidRequest):
        tree.move_entry(fs, fs, root, "/a", "/a", "again", mtime=1)
    with pytest.raises(InvalidRequest):
        tree.move_entry(fs, fs, root, "/", "/b", "root", mtime=1)
    with pytest.raises(PathNotFound):
        tree.move_entry(fs, fs, root, "/nope", "/b", "x", mtime=1)
    with pytest.raises(PathNotFound):
        tree.move_entry(fs, fs, root, "/a/f", "/missing", "x", mtime=1)
    with pytest.raises(PathNotFound):
        tree.move_entry(fs, fs, root, "/a/f", "/b/taken", "x", mtime=1)


def test_deep_tree_does_not_hit_the_recursion_limit() -> None:
    fs = MemoryFs()
    deep = "/" + "/".join(["d"] * 1500)
    root = tree.put_entry(fs, fs, EMPTY_ID, deep, file_dirent("f", b"x"), mtime=1)
    assert tree.lookup(fs, root, deep + "/f") == file_dirent("f", b"x")
    assert len(list(tree.walk(fs, root))) == 1501
    assert len(list(tree.reachable_fs_ids(fs, root))) == 1502, "root + 1500 folders + file"
    assert len(tree.diff(fs, EMPTY_ID, root)) == 1501
    assert len(list(tree.new_fs_ids(fs, root, EMPTY_ID))) == 1502
    assert tree.remove_entry(fs, fs, root, "/d") == EMPTY_ID


def test_diff_concrete() -> None:
    fs = MemoryFs()
    old = build(fs, {"keep": file_dirent("keep", b"k"), "mod": file_dirent("mod", b"12"),
                     "gone": {"x": file_dirent("x", b"xxx")}, "swap": file_dirent("swap", b"s")})
    new = build(fs, {"keep": file_dirent("keep", b"k", mtime=1), "mod": file_dirent(
        "mod", b"12345"), "new": {"y": file_dirent("y", b"yy"), "e": {}},
        "swap": {}})
    got = {(c.kind.value, c.path, c.is_dir, c.implied) for c in tree.diff(fs, old, new)}
    assert got == {
        ("modified", "/mod", False, False),
        ("deleted", "/gone", True, False), ("deleted", "/gone/x", False, True),
        ("added", "/new", True, False), ("added", "/new/y", False, True),
        ("added", "/new/e", True, True),
        ("deleted", "/swap", False, False), ("added", "/swap", True, False),
    }
    assert tree.size_delta(tree.diff(fs, old, new)) == 3 - 3 + 2 - 1
    assert tree.diff(fs, old, old) == []


def test_diff_reports_a_mode_change() -> None:
    fs = MemoryFs()
    f = file_dirent("run.sh", b"echo")
    old = build(fs, {"run.sh": f})
    new = build(fs, {"run.sh": replace(f, mode=MODE_EXECUTABLE)})
    changes = tree.diff(fs, old, new)
    assert [(c.kind, c.path, c.size_delta) for c in changes] == [
        (tree.ChangeKind.MODIFIED, "/run.sh", 0)]


# ---- properties ------------------------------------------------------------------------

names = st.sampled_from(["a", "b", "é", "A", "z z"])
parent_paths = st.lists(names, max_size=3)
ops = st.lists(st.one_of(
    st.tuples(st.just("put"), parent_paths, names, st.binary(max_size=3)),
    st.tuples(st.just("mkdir"), parent_paths, names, st.just(b"")),
    st.tuples(st.just("remove"), st.lists(names, min_size=1, max_size=4), st.just(""),
              st.just(b"")),
), max_size=25)


def apply_ops(fs: MemoryFs, model: Model, root: str,
              operations: list[tuple[str, list[str], str, bytes]]) -> str:
    """Apply operations to both the model and the real tree; check errors agree."""
    for kind, parts, name, content in operations:
        if kind == "remove":
            node: Model | None = model
            for part in parts[:-1]:
                child = node.get(part) if node is not None else None
                node = child if isinstance(child, dict) else None
            if node is None or parts[-1] not in node:
                with pytest.raises(PathNotFound):
                    tree.remove_entry(fs, fs, root, "/".join(parts))
                continue
            del node[parts[-1]]
            root = tree.remove_entry(fs, fs, root, "/" + "/".join(parts))
            continue
        node = model
        blocked = False
        for part in parts:
            child = node.setdefault(part, {})
            if isinstance(child, Dirent):
                blocked = True
                break
            node = child
        entry = (file_dirent(name, content) if kind == "put" else
                 Dirent(id=EMPTY_ID, mode=MODE_DIR, mtime=T, name=name))
        if blocked:
            with pytest.raises(AlreadyExists):
                tree.put_entry(fs, fs, root, "/".join(parts), entry, mtime=T)
            continue
        node[name] = entry if kind == "put" else {}
        root = tree.put_entry(fs, fs, root, "/".join(parts), entry, mtime=T)
    return root


@settings(max_examples=150, deadline=None)
@given(ops)
def test_edits_give_the_same_root_as_building_from_scratch(
        operations: list[tuple[str, list[str], str, bytes]]) -> None:
    fs = MemoryFs()
    model: Model = {}
    root = apply_ops(fs, model, EMPTY_ID, operations)
    assert root == build(MemoryFs(), model)
    walked = dict(tree.walk(fs, root))
    flat = flatten(model)
    assert set(walked) == set(flat)
    for path, dirent in walked.items():
        assert tree.lookup(fs, root, path) == dirent
        assert dirent.is_dir == (flat[path] is None)
        if flat[path] is not None:
            assert dirent == flat[path]


@settings(max_examples=150, deadline=None)
@given(ops, ops)
def test_id_lists_and_diff(first: list[tuple[str, list[str], str, bytes]],
                           second: list[tuple[str, list[str], str, bytes]]) -> None:
    fs = MemoryFs()
    model: Model = {}
    old = apply_ops(fs, model, EMPTY_ID, first)
    new = apply_ops(fs, model, old, second)

    reachable_new = list(tree.reachable_fs_ids(fs, new))
    assert len(reachable_new) == len(set(reachable_new))
    expected = {d.id for _, d in tree.walk(fs, new)} | {new}
    assert set(reachable_new) == expected - {EMPTY_ID}

    fresh = list(tree.new_fs_ids(fs, new, old))
    assert len(fresh) == len(set(fresh))
    assert set(fresh) <= set(reachable_new)
    assert set(reachable_new) - set(tree.reachable_fs_ids(fs, old)) <= set(fresh)
    assert list(tree.new_fs_ids(fs, new, new)) == []
    assert set(tree.new_fs_ids(fs, new, EMPTY_ID)) == set(reachable_new)

    changes = tree.diff(fs, old, new)
    state = dict(tree.walk(fs, old))
    for change in changes:
        if change.new is None:
            del state[change.path]
        else:
            state[change.path] = change.new
    after = dict(tree.walk(fs, new))
    assert set(state) == set(after)
    assert {p: d for p, d in state.items() if not d.is_dir} == {
        p: d for p, d in after.items() if not d.is_dir}
    total = sum(d.size or 0 for d in after.values()) - sum(
        d.size or 0 for _, d in tree.walk(fs, old))
    assert tree.size_delta(changes) == total
    for change in changes:
        if change.implied:
            parent = change.path.rsplit("/", 1)[0]
            assert any(c.path == parent and c.kind == change.kind and c.is_dir
                       for c in changes)
