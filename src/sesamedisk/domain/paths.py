"""Library paths: normalisation, validation of names, and join/parent/basename helpers.

A normalised path is absolute, uses single `/` separators and has no trailing slash; the root
is `/`. Every name in it is a valid dirent name (see `validate_name`).
"""

from __future__ import annotations

from sesamedisk.errors import InvalidRequest

ROOT = "/"
MAX_NAME_BYTES = 255
"""Longest name in UTF-8 bytes (NAME_MAX on Linux; longer names cannot be checked out)."""
MAX_PATH_BYTES = 4096
"""Longest normalised path in UTF-8 bytes (PATH_MAX on Linux)."""


def _utf8_len(text: str, what: str) -> int:
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise InvalidRequest(f"{what} is not valid Unicode text: {text!r}") from exc


def validate_name(name: str) -> str:
    """Return `name` if it can be a file or folder name, else raise InvalidRequest."""
    if not isinstance(name, str):
        raise InvalidRequest("a name must be text")
    if name in ("", ".", ".."):
        raise InvalidRequest(f"{name!r} is not allowed as a file or folder name")
    if "/" in name:
        raise InvalidRequest(f"a file or folder name must not contain '/': {name!r}")
    if "\0" in name:
        raise InvalidRequest(f"a file or folder name must not contain NUL: {name!r}")
    if _utf8_len(name, "name") > MAX_NAME_BYTES:
        raise InvalidRequest(
            f"a file or folder name must be at most {MAX_NAME_BYTES} UTF-8 bytes: {name[:40]!r}…")
    return name


def split(path: str) -> tuple[str, ...]:
    """The names along `path`, outermost first; `()` for the root.

    Empty components (`//`, leading or trailing `/`) are ignored; `.` and `..` are refused, not
    resolved, so a path can never escape or alias another one.
    """
    if not isinstance(path, str):
        raise InvalidRequest("a path must be text")
    if "\0" in path:
        raise InvalidRequest("a path must not contain NUL")
    if _utf8_len(path, "path") > MAX_PATH_BYTES:
        raise InvalidRequest(f"a path must be at most {MAX_PATH_BYTES} UTF-8 bytes")
    parts = tuple(part for part in path.split("/") if part)
    for part in parts:
        if part in (".", ".."):
            raise InvalidRequest(f"'.' and '..' are not allowed in a path: {path!r}")
        validate_name(part)
    return parts


def from_parts(parts: tuple[str, ...] | list[str]) -> str:
    """The normalised path made of `parts` (each validated)."""
    for part in parts:
        validate_name(part)
    path = ROOT + "/".join(parts)
    if _utf8_len(path, "path") > MAX_PATH_BYTES:
        raise InvalidRequest(f"a path must be at most {MAX_PATH_BYTES} UTF-8 bytes")
    return path


def normalize(path: str) -> str:
    """`"/a//b/"` → `"/a/b"`, `""` → `"/"`, `"a/b"` → `"/a/b"`; InvalidRequest if invalid."""
    return ROOT + "/".join(split(path))


def is_root(path: str) -> bool:
    """True when `path` names the library root."""
    return not split(path)


def join(parent: str, *names: str) -> str:
    """The normalised path of `names` (each a single name) inside `parent`."""
    return from_parts(split(parent) + tuple(validate_name(name) for name in names))


def parent(path: str) -> str:
    """The folder containing `path`; InvalidRequest for the root, which has no parent."""
    parts = split(path)
    if not parts:
        raise InvalidRequest("the library root has no parent folder")
    return ROOT + "/".join(parts[:-1])


def basename(path: str) -> str:
    """The last name of `path`; `""` for the root."""
    parts = split(path)
    return parts[-1] if parts else ""


def is_within(path: str, ancestor: str) -> bool:
    """True when `path` is `ancestor` itself or lies somewhere below it."""
    inner, outer = split(path), split(ancestor)
    return inner[:len(outer)] == outer
