"""Library path normalisation and validation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sesamedisk.domain import paths
from sesamedisk.errors import InvalidRequest


@pytest.mark.parametrize(("raw", "expected"), [
    ("/a//b/", "/a/b"), ("/", "/"), ("", "/"), ("//", "/"), ("a/b", "/a/b"),
    ("/Ünïcødé 文件.txt", "/Ünïcødé 文件.txt"), ("/a b/ c ", "/a b/ c "),
    ("/...", "/..."), ("/.hidden/x.", "/.hidden/x."), ("/a\\b", "/a\\b"),
])
def test_normalize(raw: str, expected: str) -> None:
    assert paths.normalize(raw) == expected


@pytest.mark.parametrize(("raw", "reason"), [
    ("/a/../b", "'..'"), ("/a/./b", "'.'"), ("..", "'..'"), ("/a\0b", "NUL"),
    ("/" + "x" * 256, "255"), ("/" + "é" * 128, "255"), ("/bad\ud800", "Unicode"),
    ("/a" * 2049, "4096"),
])
def test_invalid_paths(raw: str, reason: str) -> None:
    with pytest.raises(InvalidRequest, match=reason):
        paths.normalize(raw)


def test_name_limits_count_utf8_bytes() -> None:
    assert paths.validate_name("x" * 255) == "x" * 255
    assert paths.validate_name("é" * 127 + "x") == "é" * 127 + "x"
    with pytest.raises(InvalidRequest):
        paths.validate_name("é" * 128)


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "a\0", "\udcff"])
def test_invalid_names(name: str) -> None:
    with pytest.raises(InvalidRequest):
        paths.validate_name(name)


def test_non_text_is_refused() -> None:
    with pytest.raises(InvalidRequest):
        paths.normalize(b"/a")  # type: ignore[arg-type]
    with pytest.raises(InvalidRequest):
        paths.validate_name(None)  # type: ignore[arg-type]


def test_helpers() -> None:
    assert paths.split("/a//b/") == ("a", "b")
    assert paths.split("/") == ()
    assert paths.join("/", "a") == "/a"
    assert paths.join("/a/", "b", "c") == "/a/b/c"
    assert paths.parent("/a/b") == "/a"
    assert paths.parent("/a") == "/"
    assert paths.basename("/a/b/") == "b"
    assert paths.basename("/") == ""
    assert paths.is_root("//")
    assert not paths.is_root("/a")
    assert paths.from_parts(["a", "b"]) == "/a/b"
    assert paths.from_parts(()) == "/"
    with pytest.raises(InvalidRequest):
        paths.parent("/")
    with pytest.raises(InvalidRequest):
        paths.join("/a", "b/c")
    with pytest.raises(InvalidRequest):
        paths.join("/a", "..")


def test_is_within() -> None:
    assert paths.is_within("/a/b", "/a")
    assert paths.is_within("/a", "/a/")
    assert paths.is_within("/a", "/")
    assert not paths.is_within("/ab", "/a")
    assert not paths.is_within("/a", "/a/b")


names = st.text(st.characters(codec="utf-8", exclude_characters="/\0"), min_size=1,
                max_size=20).filter(lambda n: n not in (".", ".."))


@given(st.lists(names, max_size=6), st.lists(st.sampled_from(["/", "//", "///"]), min_size=7,
                                              max_size=7), st.booleans())
def test_normalize_properties(parts: list[str], seps: list[str], trailing: bool) -> None:
    raw = "".join(sep + part for sep, part in zip(seps, parts, strict=False))
    raw += "/" if trailing else ""
    normal = paths.normalize(raw)
    assert normal == "/" + "/".join(parts)
    assert paths.normalize(normal) == normal
    assert paths.split(normal) == tuple(parts)
    if parts:
        assert paths.join(paths.parent(normal), paths.basename(normal)) == normal
        assert paths.is_within(normal, paths.parent(normal))
