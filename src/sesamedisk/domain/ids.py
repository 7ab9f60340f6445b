"""Identifier formats used by the Seafile object model."""

from __future__ import annotations

import re
import uuid

from sesamedisk.errors import InvalidRequest

EMPTY_ID = "0" * 40
"""Id of an empty file, an empty directory and an empty root: no object is stored for it."""

_HEX40 = re.compile(r"[0-9a-f]{40}")


def is_object_id(value: object) -> bool:
    """True for a 40-character lower-case hex SHA-1 id."""
    return isinstance(value, str) and _HEX40.fullmatch(value) is not None


def require_object_id(value: object, what: str = "object id") -> str:
    """Return `value` if it is a 40-hex id, else raise InvalidRequest naming `what`."""
    if not is_object_id(value):
        raise InvalidRequest(f"invalid {what}: expected 40 lower-case hex characters")
    return str(value)


def is_library_id(value: object) -> bool:
    """True for a lower-case dashed UUID as Seafile uses for library ids."""
    if not isinstance(value, str) or len(value) != 36:
        return False
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


def require_library_id(value: object) -> str:
    """Return `value` if it is a library id, else raise InvalidRequest."""
    if not is_library_id(value):
        raise InvalidRequest("invalid library id: expected a lower-case UUID")
    return str(value)


def new_library_id() -> str:
    """A fresh random library id."""
    return str(uuid.uuid4())
