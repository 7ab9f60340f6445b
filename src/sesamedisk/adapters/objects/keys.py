"""Keys of stored objects: validating kind, scope and id so no key can escape the store."""

from __future__ import annotations

import contextlib
import re

from sesamedisk.errors import InvalidRequest
from sesamedisk.ports.objects import ObjectKind

SCOPE_PATTERN = re.compile(r"[0-9a-f-]{36}")
OBJECT_ID_PATTERN = re.compile(r"[0-9a-f]{40}")


def validate_kind(kind: object) -> ObjectKind:
    """Return `kind` as an ObjectKind, or raise InvalidRequest."""
    if isinstance(kind, str):
        with contextlib.suppress(ValueError):
            return ObjectKind(kind)
    raise InvalidRequest("invalid object kind")


def validate_scope(scope: object) -> str:
    """Return `scope` if it looks like a library id ([0-9a-f-]{36}), else raise InvalidRequest."""
    if not isinstance(scope, str) or SCOPE_PATTERN.fullmatch(scope) is None:
        raise InvalidRequest("invalid object scope: expected a library id")
    return scope


def validate_object_id(object_id: object) -> str:
    """Return `object_id` if it is 40 lower-case hex characters, else raise InvalidRequest."""
    if not isinstance(object_id, str) or OBJECT_ID_PATTERN.fullmatch(object_id) is None:
        raise InvalidRequest("invalid object id: expected 40 lower-case hex characters")
    return object_id


def validate_key(kind: object, scope: object, object_id: object) -> ObjectKind:
    """Validate a whole (kind, scope, id) key; return the kind as an ObjectKind."""
    checked = validate_kind(kind)
    validate_scope(scope)
    validate_object_id(object_id)
    return checked
