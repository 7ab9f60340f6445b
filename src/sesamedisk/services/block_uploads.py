"""Block-level uploads of the mobile apps (spec §10.4): raw blocks first, then a commit.

The apps cut a file into blocks themselves (for an encrypted library they encrypt each
block with the library's file key, so the server never needs the password), ask which
blocks the library lacks, post those as raw blocks and finally commit the file from its
block ids. Links are the upload and update links of `transfer_links` (write permission,
re-checked whenever a link is used).

Block ids are validated once, by `block_ids`, whose `BlockIds` the other functions take.
A raw block is streamed into the store and published only if its SHA-1 is its id.
What the server checks before a commit: every block is stored in this library; for a
plain library the blocks' sizes add up to `file_size`. For an encrypted library it cannot
know the plaintext size; it only checks that each block is whole AES blocks and that
`file_size` lies within what PKCS#7 padding allows (each block is 1 to 16 bytes longer
than its plaintext).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NewType

from sesamedisk.domain import crypto
from sesamedisk.domain.ids import require_object_id
from sesamedisk.domain.objects import Dirent, FileObject
from sesamedisk.domain.records import Library, User
from sesamedisk.errors import InvalidRequest, ObjectNotFound, TooLarge
from sesamedisk.ports.deps import Deps
from sesamedisk.ports.objects import ObjectKind
from sesamedisk.services import transfer_links
from sesamedisk.services.libraries import writable_library
from sesamedisk.services.transfer_links import WRITE_OPS, NewFile, Transfer

MAX_RAW_BLOCK_BYTES = 10 * 1024 * 1024
"""Largest raw block accepted (apps send 2 MiB blocks, Seafile's server cuts at most 8 MiB)."""
MAX_BLOCKS_PER_FILE = 200_000
"""Most block ids one commit or one missing-blocks question may name (400 GB of 2 MiB)."""
MAX_BLOCK_LIST_BYTES = 48 * MAX_BLOCKS_PER_FILE
"""Largest text field listing block ids (40 hex plus quotes, separators and spaces each)."""

BlockIds = NewType("BlockIds", tuple[str, ...])
"""Block ids checked by `block_ids` (40 lower-case hex each, at most MAX_BLOCKS_PER_FILE)."""


class BlocksMissing(InvalidRequest):
    """A commit names blocks the library does not hold (Seafile answers 446)."""

    def __init__(self, missing: Sequence[str]) -> None:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        super().__init__(f"{len(missing)} block(s) not uploaded to this library: {shown}")
        self.missing = list(missing)


def block_ids(values: Sequence[object]) -> BlockIds:
    """Validated block ids (40 lower-case hex each), in order; InvalidRequest otherwise."""
    if len(values) > MAX_BLOCKS_PER_FILE:
        raise InvalidRequest(f"more than {MAX_BLOCKS_PER_FILE} block ids")
    return BlockIds(tuple(require_object_id(value, "block id") for value in values))


def missing_blocks(deps: Deps, actor: User, library_id: str, wanted: BlockIds) -> list[str]:
    """The ids among `wanted` that the library does not store yet (in order, no repeats)."""
    library = writable_library(deps, actor, library_id)
    return deps.objects.missing(ObjectKind.BLOCK, library.id, wanted)


def redeem(deps: Deps, token: str) -> Transfer:
    """The transfer of an upload or update link (raw blocks may come through either)."""
    return transfer_links.redeem(deps, token, WRITE_OPS)


def store_block(deps: Deps, transfer: Transfer, block_id: str, chunks: Iterable[bytes], *,
                max_bytes: int = MAX_RAW_BLOCK_BYTES) -> None:
    """Stream one raw block into the store, published only if its SHA-1 is `block_id`.

    InvalidRequest for a bad id or bytes that are not the block; TooLarge past `max_bytes`
    (never more than MAX_RAW_BLOCK_BYTES). Nothing is stored when it is refused.
    """
    require_object_id(block_id, "block id")
    limit = min(max_bytes, MAX_RAW_BLOCK_BYTES)
    writer = deps.objects.open_writer(ObjectKind.BLOCK, transfer.library.id)
    try:
        for chunk in chunks:
            if writer.size + len(chunk) > limit:
                raise TooLarge(f"block {block_id} is larger than {limit} bytes")
            writer.write(chunk)
        if writer.digest != block_id:
            raise InvalidRequest(f"{ObjectKind.BLOCK.value} object {block_id} does not "
                                 "match its content")
        writer.commit(block_id)
    except BaseException:
        writer.abort()
        raise


def _stored_sizes(deps: Deps, library: Library, ids: BlockIds) -> dict[str, int]:
    """The stored size of each distinct id, one lookup each; BlocksMissing names the absent."""
    sizes: dict[str, int] = {}
    missing: list[str] = []
    for block_id in dict.fromkeys(ids):
        try:
            sizes[block_id] = deps.objects.size(ObjectKind.BLOCK, library.id, block_id)
        except ObjectNotFound:
            missing.append(block_id)
    if missing:
        raise BlocksMissing(missing)
    return sizes


def _check_size(library: Library, ids: BlockIds, stored_sizes: dict[str, int],
                size: int) -> None:
    sizes = [stored_sizes[block_id] for block_id in ids]
    stored = sum(sizes)
    if not library.encrypted:
        if stored != size:
            raise InvalidRequest(f"file_size is {size} but the blocks hold {stored} bytes")
        return
    for block_id, length in zip(ids, sizes, strict=True):
        if length == 0 or length % crypto.AES_BLOCK:
            raise InvalidRequest(f"block {block_id} is not encrypted data (its length is "
                                 f"{length} bytes, not a multiple of {crypto.AES_BLOCK})")
    low, high = stored - crypto.AES_BLOCK * len(ids), stored - len(ids)
    if not low <= size <= high:
        raise InvalidRequest(f"file_size {size} cannot be the plaintext of these encrypted "
                             f"blocks (between {low} and {high} bytes)")


def file_from_blocks(deps: Deps, library: Library, ids: BlockIds, size: int) -> FileObject:
    """The file object of stored blocks; BlocksMissing names any block not stored."""
    if size < 0:
        raise InvalidRequest("file_size must not be negative")
    _check_size(library, ids, _stored_sizes(deps, library, ids), size)
    return FileObject(block_ids=ids, size=size)


def commit_new(deps: Deps, transfer: Transfer, ids: BlockIds, size: int, *,
               parent_dir: str, name: str, replace: bool, mtime: int | None) -> Dirent:
    """Add the file made of `ids` to the link's folder (a taken name gets "name (1)").

    PermissionDenied when `parent_dir` is not the link's folder.
    """
    folder = transfer_links.link_folder(transfer, parent_dir)
    content = file_from_blocks(deps, transfer.library, ids, size)
    new = NewFile(name=name, content=content, mtime=mtime)
    placed = transfer_links.add_files(deps, transfer.actor, transfer.library.id, folder, [new],
                                      replace=replace)
    return placed[0]


def commit_update(deps: Deps, transfer: Transfer, ids: BlockIds, size: int, *,
                  target: str, mtime: int | None) -> Dirent:
    """Give the existing file `target` (in the link's folder) the content made of `ids`."""
    path = transfer_links.file_in_link_folder(transfer, target)
    content = file_from_blocks(deps, transfer.library, ids, size)
    return transfer_links.update_file(deps, transfer.actor, transfer.library.id, path,
                                      content, mtime=mtime)
