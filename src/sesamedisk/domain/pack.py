"""The binary framing of pack-fs responses and recv-fs requests."""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator

from sesamedisk.domain.ids import is_object_id
from sesamedisk.errors import InvalidRequest

_HEADER = struct.Struct(">40sI")


def iter_pack(body: bytes) -> Iterator[tuple[str, bytes]]:
    """Yield (id, raw object bytes) from a pack; raise InvalidRequest if it is malformed."""
    view = memoryview(body)
    offset = 0
    while offset < len(view):
        if len(view) - offset < _HEADER.size:
            raise InvalidRequest("pack is truncated inside a record header")
        raw_id, length = _HEADER.unpack_from(view, offset)
        offset += _HEADER.size
        try:
            object_id = raw_id.decode("ascii")
        except UnicodeDecodeError as exc:
            raise InvalidRequest("pack record id is not ASCII") from exc
        if not is_object_id(object_id):
            raise InvalidRequest("pack record id is not a 40-hex id")
        if len(view) - offset < length:
            raise InvalidRequest(f"pack is truncated inside object {object_id}")
        yield object_id, bytes(view[offset:offset + length])
        offset += length


def encode_pack(records: Iterable[tuple[str, bytes]]) -> bytes:
    """Frame (id, raw bytes) records as one pack."""
    return b"".join(_HEADER.pack(oid.encode("ascii"), len(raw)) + raw for oid, raw in records)
