"""Property tests of the fs/commit codec and the pack framing."""

from __future__ import annotations

import contextlib
import json
import re
import zlib

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from sesamedisk.domain import codec, pack
from sesamedisk.domain.objects import (
    MODE_DIR,
    MODE_EXECUTABLE,
    MODE_FILE,
    Commit,
    Dirent,
    DirObject,
    FileObject,
)
from sesamedisk.errors import InvalidRequest

object_ids = st.text(alphabet="0123456789abcdef", min_size=40, max_size=40)
# Any Unicode scalar value except '/' (no surrogates: names must be encodable as UTF-8).
name_chars = st.characters(codec="utf-8", exclude_characters="/")
names = st.text(name_chars, min_size=1, max_size=30).filter(lambda n: n not in (".", ".."))
mtimes = st.integers(min_value=0, max_value=2**62)


@st.composite
def dirents(draw: st.DrawFn, name: str | None = None) -> Dirent:
    is_dir = draw(st.booleans())
    real_name = name if name is not None else draw(names)
    if is_dir:
        return Dirent(id=draw(object_ids), mode=MODE_DIR, mtime=draw(mtimes), name=real_name)
    return Dirent(id=draw(object_ids), mode=draw(st.sampled_from([MODE_FILE, MODE_EXECUTABLE])),
                  mtime=draw(mtimes), name=real_name,
                  modifier=draw(st.none() | st.text(name_chars, max_size=20)),
                  size=draw(st.integers(min_value=0, max_value=2**62)))


@st.composite
def dir_objects(draw: st.DrawFn) -> DirObject:
    unique = draw(st.lists(names, unique=True, min_size=1, max_size=8))
    return DirObject.of([draw(dirents(name)) for name in unique])


file_objects = st.builds(lambda ids, size: FileObject(block_ids=tuple(ids), size=size),
                         st.lists(object_ids, min_size=1, max_size=5),
                         st.integers(min_value=1, max_value=2**62))


def jansson_reference(value: object) -> str:
    """An independent writer of the canonical form (spec §3.3), for comparison."""
    if isinstance(value, dict):
        items = sorted(value.items())
        return "{" + ", ".join(f"{jansson_reference(k)}: {jansson_reference(v)}"
                               for k, v in items) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(jansson_reference(v) for v in value) + "]"
    if isinstance(value, bool) or value is None:
        raise AssertionError("not used in fs objects")
    if isinstance(value, int):
        return str(value)
    assert isinstance(value, str)
    short = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r",
             "\t": "\\t"}
    out = []
    for ch in value:
        if ch in short:
            out.append(short[ch])
        elif ord(ch) < 0x20:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


@given(dir_objects())
@example(DirObject.of([Dirent(id="1" * 40, mode=MODE_FILE, mtime=1, size=3, modifier="a/b",
                              name="x\x1f\x7f\u2028\u2029|\\u001f\"\\")]))
def test_dir_objects_round_trip(obj: DirObject) -> None:
    text = codec.encode_fs(obj)
    decoded = codec.decode_fs_json(text)
    assert isinstance(decoded, DirObject)
    assert codec.encode_fs(decoded) == text
    assert [d.name for d in decoded.dirents] == [d.name for d in obj.dirents]
    assert codec.decode_fs(codec.compress(text)) == decoded


@given(dir_objects())
def test_encoding_matches_jansson_rules(obj: DirObject) -> None:
    text = codec.encode_fs(obj).decode("utf-8")
    assert text == jansson_reference(json.loads(text))
    assert not re.search(r"\\u00[0-9A-F]?[a-f]", text), "hex escapes must be upper-case"
    assert "\\/" not in text
    assert "\\u007F" not in text
    assert "\\u2028" not in text.lower()


def test_escaping_examples() -> None:
    obj = DirObject.of([Dirent(id="a" * 40, mode=MODE_DIR, mtime=5,
                               name="a\x01\x1f\x7f\u2028 \\u001f\"\\ /")])
    text = codec.encode_fs(obj)
    assert ('"name": "a\\u0001\\u001F\x7f\u2028 \\\\u001f\\"\\\\ /"').encode() in text


@given(dir_objects())
def test_dirents_are_in_descending_byte_order(obj: DirObject) -> None:
    keys = [d.name.encode("utf-8") for d in obj.dirents]
    assert keys == sorted(keys, reverse=True)


@given(file_objects)
def test_file_objects_round_trip(obj: FileObject) -> None:
    text = codec.encode_fs(obj)
    assert codec.decode_fs_json(text) == obj
    assert codec.fs_id(obj) == codec.sha1_hex(text)


@given(st.lists(st.tuples(object_ids, st.binary(max_size=200)), max_size=6))
def test_pack_round_trip(records: list[tuple[str, bytes]]) -> None:
    body = pack.encode_pack(records)
    assert list(pack.iter_pack(body)) == records


@given(st.lists(st.tuples(object_ids, st.binary(min_size=1, max_size=50)), min_size=1,
                max_size=4), st.data())
def test_truncated_pack_is_refused(records: list[tuple[str, bytes]], data: st.DataObject) -> None:
    body = pack.encode_pack(records)
    cut = data.draw(st.integers(min_value=1, max_value=len(body) - 1))
    boundaries = set()
    offset = 0
    for _, raw in records:
        offset += 44 + len(raw)
        boundaries.add(offset)
    if cut in boundaries:
        assert len(list(pack.iter_pack(body[:cut]))) < len(records)
    else:
        with pytest.raises(InvalidRequest):
            list(pack.iter_pack(body[:cut]))


@given(st.binary(max_size=300))
def test_decoding_random_bytes_raises_only_invalid_request(raw: bytes) -> None:
    for decode in (codec.decode_fs, codec.decode_fs_json, codec.decode_commit,
                   lambda b: codec.verify_fs("0" * 40, b),
                   lambda b: codec.verify_commit("0" * 40, b),
                   lambda b: list(pack.iter_pack(b))):
        with contextlib.suppress(InvalidRequest):
            decode(raw)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12)
fs_like = st.fixed_dictionaries({"type": st.sampled_from([1, 3, 2, "1", None])}, optional={
    "dirents": st.lists(st.dictionaries(
        st.sampled_from(["id", "mode", "mtime", "name", "size", "modifier"]),
        json_values | object_ids, max_size=6), max_size=3) | json_values,
    "block_ids": st.lists(object_ids | json_values, max_size=3) | json_values,
    "size": json_values, "version": json_values})
commit_like = st.fixed_dictionaries({
    "commit_id": object_ids, "root_id": object_ids,
    "repo_id": st.just("e1bcae1b-1722-4ae7-8112-6f0a582180ca"),
    "creator": st.text(min_size=40, max_size=40) | object_ids,
    "ctime": st.integers(min_value=-(2**64), max_value=2**64),
    "description": st.text(),
}, optional={"creator_name": st.text() | json_values, "parent_id": json_values | object_ids,
             "encrypted": st.just("true") | json_values, "enc_version": json_values,
             "magic": json_values, "key": json_values, "extra": json_values})


@given(st.one_of(fs_like, commit_like, json_values))
def test_decoding_random_json_raises_only_invalid_request(value: object) -> None:
    raw = json.dumps(value).encode()
    for decode in (codec.decode_fs_json, codec.decode_commit,
                   lambda b: codec.verify_commit("0" * 40, b),
                   lambda b: codec.verify_fs("0" * 40, zlib.compress(b))):
        with contextlib.suppress(InvalidRequest):
            decode(raw)


@pytest.mark.parametrize("text", [
    b"[" * 100_000, b'{"a": ' * 100_000, b'{"type": 3, "dirents": ' + b"[" * 50_000])
def test_deeply_nested_json_is_refused_cleanly(text: bytes) -> None:
    with pytest.raises(InvalidRequest):
        codec.decode_fs_json(text)
    with pytest.raises(InvalidRequest):
        codec.decode_commit(text)


def test_truncated_zlib_stream_is_refused() -> None:
    raw = codec.compress(codec.encode_fs(FileObject(block_ids=("1" * 40,), size=1)))
    with pytest.raises(InvalidRequest):
        codec.decompress(raw[:-4])


@settings(max_examples=50)
@given(st.text(min_size=1, max_size=20), st.text(max_size=40), mtimes)
def test_commit_round_trip_and_id(creator_name: str, description: str, ctime: int) -> None:
    try:
        cid = codec.commit_id(root_id="2" * 40, creator="0" * 40, creator_name=creator_name,
                              description=description, ctime=ctime)
    except InvalidRequest:
        assert any(0xD800 <= ord(c) <= 0xDFFF for c in creator_name + description)
        return
    commit = Commit(commit_id=cid, root_id="2" * 40, repo_id="e1bcae1b-1722-4ae7-8112-6f0a582180ca",
                    creator="0" * 40, description=description, ctime=ctime, parent_id="3" * 40,
                    creator_name=creator_name, repo_name="lib")
    raw = codec.encode_commit(commit)
    assert codec.verify_commit(cid, raw) == commit
