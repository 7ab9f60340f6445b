"""The optional UnhashedWrites capability: sizes counted, no digest, same publishing."""

from __future__ import annotations

from pathlib import Path

import pytest

from sesamedisk.adapters.objects.local import LocalObjectStore
from sesamedisk.domain.codec import sha1_hex
from sesamedisk.errors import InvalidRequest
from sesamedisk.ports.objects import ObjectKind, UnhashedWrites

SCOPE = "5f3c6a3e-8a5e-4f8e-9d53-3c9f1f3f2b10"


def test_local_unhashed_writer_publishes_without_a_digest(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path)
    assert isinstance(store, UnhashedWrites)
    data = b"caller hashes this" * 1000
    writer = store.open_unhashed_writer(ObjectKind.BLOCK, SCOPE)
    writer.write(data[:5000])
    writer.write(memoryview(data)[5000:])
    assert writer.size == len(data)
    with pytest.raises(InvalidRequest, match="does not hash"):
        _ = writer.digest
    writer.commit(sha1_hex(data))
    assert store.get(ObjectKind.BLOCK, SCOPE, sha1_hex(data)) == data
