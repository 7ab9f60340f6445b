"""BlockPipeline: chunks stored concurrently, in order, bounded, errors never lost."""

from __future__ import annotations

import threading
import time

import pytest

from sesamedisk.adapters.objects.memory import MemoryObjectStore
from sesamedisk.adapters.objects.verifying import VerifyingObjectStore
from sesamedisk.domain import crypto
from sesamedisk.domain.codec import sha1_hex
from sesamedisk.errors import Unavailable
from sesamedisk.ports.objects import ObjectKind
from sesamedisk.services import block_pipeline
from sesamedisk.services.block_pipeline import BlockPipeline, store_block

SCOPE = "6f0c2b1e-8d4a-4c3b-9e2f-1a5b7c9d0e3f"


class SlowStore(MemoryObjectStore):
    """A memory store whose puts take a while, counting how many run at once."""

    def __init__(self, fail_at: int | None = None, delay: float = 0.02) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self.running = self.most = self.calls = 0
        self.finished_at: list[float] = []
        self._fail_at = fail_at
        self._delay = delay

    def put(self, kind: ObjectKind, scope: str, object_id: str, data: bytes) -> None:
        with self._lock:
            self.calls += 1
            number = self.calls
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            time.sleep(self._delay)
            if number == self._fail_at:
                raise Unavailable("disk gone")
            super().put(kind, scope, object_id, data)
        finally:
            with self._lock:
                self.running -= 1
                self.finished_at.append(time.monotonic())


def chunks(count: int) -> list[bytes]:
    return [b"chunk %d " % i * (100 + i) for i in range(count)]


def test_blocks_come_back_in_order_with_their_ids_and_sizes() -> None:
    store = SlowStore()
    data = chunks(12)
    with BlockPipeline(store, SCOPE, None) as pipeline:
        for chunk in data:
            pipeline.add(chunk)
    assert [b.block_id for b in pipeline.blocks] == [sha1_hex(c) for c in data]
    assert [b.size for b in pipeline.blocks] == [len(c) for c in data]
    for block, chunk in zip(pipeline.blocks, data, strict=True):
        assert store.get(ObjectKind.BLOCK, SCOPE, block.block_id) == chunk


def test_puts_overlap_but_never_more_than_in_flight() -> None:
    store = SlowStore(delay=0.05)
    with BlockPipeline(store, SCOPE, None) as pipeline:
        for chunk in chunks(10):
            pipeline.add(chunk)
    assert 1 < store.most <= block_pipeline.IN_FLIGHT


def test_encrypted_chunks_are_stored_encrypted_and_sized_as_plaintext() -> None:
    store = VerifyingObjectStore(MemoryObjectStore())
    key = crypto.FileKey(key=bytes(range(32)), iv=bytes(range(16)))
    data = chunks(4)
    with BlockPipeline(store, SCOPE, key) as pipeline:
        for chunk in data:
            pipeline.add(chunk)
    for block, chunk in zip(pipeline.blocks, data, strict=True):
        stored = store.get(ObjectKind.BLOCK, SCOPE, block.block_id)
        assert stored != chunk
        assert crypto.decrypt_block(key, stored) == chunk
        assert block.size == len(chunk)


def test_a_failed_put_is_raised_and_nothing_runs_after_the_block_ends() -> None:
    store = SlowStore(fail_at=3)

    def upload() -> None:
        with BlockPipeline(store, SCOPE, None) as pipeline:
            for chunk in chunks(8):
                pipeline.add(chunk)

    with pytest.raises(Unavailable, match="disk gone"):
        upload()
    ended = time.monotonic()
    assert store.running == 0
    assert all(finished <= ended for finished in store.finished_at)


def test_an_error_in_the_body_waits_for_the_puts_in_flight() -> None:
    store = SlowStore(delay=0.05)

    def upload() -> None:
        with BlockPipeline(store, SCOPE, None) as pipeline:
            for chunk in chunks(3):
                pipeline.add(chunk)
            raise RuntimeError("client went away")

    with pytest.raises(RuntimeError, match="client went away"):
        upload()
    assert store.running == 0
    assert store.calls == 3


def test_store_block_hashes_once_on_stores_that_offer_it() -> None:
    verifying = VerifyingObjectStore(MemoryObjectStore())
    data = b"x" * 5000
    assert store_block(verifying, SCOPE, data) == sha1_hex(data)
    assert verifying.get(ObjectKind.BLOCK, SCOPE, sha1_hex(data)) == data
    plain = MemoryObjectStore()
    assert store_block(plain, SCOPE, data) == sha1_hex(data)
    assert plain.get(ObjectKind.BLOCK, SCOPE, sha1_hex(data)) == data
