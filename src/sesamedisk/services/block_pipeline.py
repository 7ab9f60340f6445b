"""Store a file's chunks as blocks in worker threads while the caller reads the next ones.

Encrypting, hashing (SHA-1 releases the GIL) and writing a block run beside the thread
that receives and chunks the file, so an upload uses more than one core. Results keep
the chunks' order; at most `IN_FLIGHT` chunks per file wait in memory.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from types import TracebackType

from sesamedisk.domain import codec, crypto
from sesamedisk.domain.uploads import UploadBlock
from sesamedisk.ports.objects import BlockPuts, ObjectKind, ObjectStore

BLOCK_WORKERS = 4
"""Threads storing blocks, shared by every upload of the process."""
IN_FLIGHT = 3
"""Chunks of one file being stored at once (memory: this many chunks plus the chunker's)."""

_WORKERS = ThreadPoolExecutor(BLOCK_WORKERS, thread_name_prefix="sesame-blocks")
"""Starts its threads on first use only."""


def store_block(store: ObjectStore, scope: str, data: bytes) -> str:
    """Store `data` as a block of `scope` and return its id, hashing it once when possible."""
    if isinstance(store, BlockPuts):
        return store.put_block(scope, data)
    block_id = codec.sha1_hex(data)
    store.put(ObjectKind.BLOCK, scope, block_id, data)
    return block_id


class BlockPipeline:
    """Ordered, bounded, concurrent `store_block` of plaintext chunks (encrypted with `key`).

    Use as a context manager: leaving it waits for every chunk still being stored (raising
    the first error when the body ended normally), so no write outlives the request; then
    `blocks` lists the stored blocks in order.
    """

    def __init__(self, store: ObjectStore, scope: str, key: crypto.FileKey | None) -> None:
        self._store = store
        self._scope = scope
        self._key = key
        self._pending: deque[Future[UploadBlock]] = deque()
        self.blocks: list[UploadBlock] = []

    def _put(self, chunk: bytes) -> UploadBlock:
        data = crypto.encrypt_block(self._key, chunk) if self._key else chunk
        return UploadBlock(store_block(self._store, self._scope, data), len(chunk))

    def add(self, chunk: bytes) -> None:
        """Queue one chunk (waits while `IN_FLIGHT` are being stored); raises a past error."""
        while len(self._pending) >= IN_FLIGHT:
            self._collect_oldest()
        self._pending.append(_WORKERS.submit(self._put, chunk))

    def add_all(self, chunks: Iterable[bytes]) -> None:
        """`add` every chunk of `chunks`, in order."""
        for chunk in chunks:
            self.add(chunk)

    def _collect_oldest(self) -> None:
        self.blocks.append(self._pending.popleft().result())

    def finish(self) -> list[UploadBlock]:
        """Wait for every queued chunk; the blocks in order, or the first error met."""
        while self._pending:
            self._collect_oldest()
        return self.blocks

    def __enter__(self) -> BlockPipeline:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if kind is None:
            self.finish()
        elif self._pending:
            wait(list(self._pending))
            self._pending.clear()
