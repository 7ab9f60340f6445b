"""One chunk request of a resumable upload: re-cut (tail + new bytes) and store the blocks.

FastCDC cut points depend only on the bytes since the previous cut, so cutting the stored
tail followed by the new bytes yields exactly the chunks a one-shot cut of the whole file
would, except that the last one may still grow: it becomes the new tail.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

from sesamedisk.domain import chunking, crypto
from sesamedisk.domain.uploads import UploadBlock
from sesamedisk.errors import Corrupted, InvalidRequest, ObjectNotFound
from sesamedisk.ports.objects import ObjectKind, ObjectStore
from sesamedisk.services.block_pipeline import BlockPipeline


@dataclass
class Ingested:
    """What one request stored: every chunk as a block (the last is the tail unless final)."""

    chunks: list[UploadBlock] = field(default_factory=list)
    received: int = 0
    """Bytes of the request body."""
    sha256: str = ""
    """Hex SHA-256 of the request body (when asked for)."""


def read_tail(store: ObjectStore, library_id: str, key: crypto.FileKey | None,
              tail_block_id: str | None) -> bytes:
    """The plaintext of an upload's tail (empty when there is none)."""
    if tail_block_id is None:
        return b""
    try:
        data = store.get(ObjectKind.BLOCK, library_id, tail_block_id)
    except ObjectNotFound as exc:
        raise Corrupted(f"the upload's stored tail {tail_block_id} is missing") from exc
    return crypto.decrypt_block(key, data) if key else data


def ingest(store: ObjectStore, library_id: str, key: crypto.FileKey | None, tail: bytes,
           body: Iterable[bytes | bytearray], *, limit: int, sha256: bool = False) -> Ingested:
    """Cut `tail` + `body` into chunks and store each as a block; memory stays bounded.

    InvalidRequest once the body is longer than `limit` bytes (reading stops there).
    With `sha256` the body's SHA-256 is computed too.
    """
    result = Ingested()
    digest = hashlib.sha256() if sha256 else None
    chunker = chunking.StreamChunker()
    with BlockPipeline(store, library_id, key) as blocks:
        blocks.add_all(chunker.feed(tail))
        for piece in body:
            result.received += len(piece)
            if result.received > limit:
                raise InvalidRequest(f"the chunk is longer than the {limit} bytes announced")
            if digest is not None:
                digest.update(piece)
            blocks.add_all(chunker.feed(piece))
        blocks.add_all(chunker.finish())
    result.chunks = blocks.blocks
    result.sha256 = "" if digest is None else digest.hexdigest()
    if sum(block.size for block in result.chunks) != len(tail) + result.received:
        raise Corrupted("chunking lost bytes")  # pragma: no cover - an internal invariant
    return result
