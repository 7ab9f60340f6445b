"""Resumable upload sessions: the durable state between two chunks of one large file."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class UploadBlock:
    """One stored block of an upload: its id and the plaintext bytes it holds."""

    block_id: str
    size: int


@dataclass(frozen=True, slots=True)
class Upload:
    """An open upload session, as recorded after its last accepted chunk.

    The first `received` bytes of the file are the plaintext of `blocks` (content-defined
    chunks whose cut points are final) followed by the tail: the last, still growing chunk,
    stored as a block `tail_block_id` (None when nothing follows the blocks).
    """

    id: str
    user_id: int
    library_id: str
    path: str
    size: int
    received: int
    tail_block_id: str | None
    mtime: int | None
    replace: bool
    created_at: int
    updated_at: int

    @property
    def complete(self) -> bool:
        """True when every byte of the file was received."""
        return self.received == self.size


def numbered_name(name: str, number: int) -> str:
    """`name` with ` (number)` before its extension: "a.txt", 1 -> "a (1).txt"."""
    dot = name.rfind(".")
    stem, ext = (name, "") if dot <= 0 else (name[:dot], name[dot:])
    return f"{stem} ({number}){ext}"
