"""Read side of Seafile's mobile/SeaDrive API (§10): subtree listings, raw blocks, block maps.

Raw blocks are served as stored, so a client that decrypts itself can read an encrypted
library that was never unlocked on the server. A block link's access token is bound to one
file of one library (op `downloadblks`, the file id kept as the token's `path`); redeeming
it re-checks the user's read permission and that the block is one of that file's blocks.
Like a file link it works once unless it was asked for with `reuse`, and it expires after
`transfer_links.LINK_SECONDS`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from sesamedisk.domain import paths, tree
from sesamedisk.domain.ids import EMPTY_ID, require_object_id
from sesamedisk.domain.objects import Dirent
from sesamedisk.domain.records import Library, User
from sesamedisk.errors import InvalidRequest, PathNotFound, PermissionDenied
from sesamedisk.ports.deps import Deps
from sesamedisk.ports.objects import ObjectKind
from sesamedisk.services.files import at_head, find_file
from sesamedisk.services.libraries import get_library
from sesamedisk.services.library_objects import LibraryObjects
from sesamedisk.services.sync import SyncSession
from sesamedisk.services.transfer_links import DOWNLOAD_BLOCKS, mint_token, redeem

MAX_TREE_ENTRIES = 50_000
"""Most entries a recursive listing returns; a larger subtree is refused (InvalidRequest).

About 12 MB of JSON: enough for a phone to walk a large library, small enough for memory.
"""


@dataclass(frozen=True)
class Listing:
    """A folder and the entries below it as (folder path, entry), in listing order."""

    folder: Dirent
    entries: list[tuple[str, Dirent]]


@dataclass(frozen=True)
class FileBlocks:
    """What a client needs to fetch and decrypt a file itself."""

    file_id: str
    block_ids: tuple[str, ...]
    library: Library


@dataclass(frozen=True)
class BlockGrant:
    """A redeemed block link: the library and block to send."""

    library_id: str
    block_id: str


def _sorted(dirents: tuple[Dirent, ...]) -> list[Dirent]:
    """Folders first, then files, each by lower-cased name (as Seahub lists them)."""
    return sorted(dirents, key=lambda d: (not d.is_dir, d.name.lower(), d.name))


def _child(folder: str, name: str) -> str:
    return f"{folder.rstrip('/')}/{name}"


def _walk(objects: LibraryObjects, folder: str, folder_id: str, *,
          recursive: bool, limit: int) -> Iterator[tuple[str, Dirent]]:
    """Entries of a folder, each folder followed by its own subtree when `recursive`.

    Only a recursive walk counts against `limit`: one folder object is read whole anyway.
    """
    stack: list[tuple[str, Iterator[Dirent]]] = [
        (folder, iter(_sorted(tree.load(objects, folder_id).dirents)))]
    seen = 0
    while stack:
        parent, pending = stack[-1]
        dirent = next(pending, None)
        if dirent is None:
            stack.pop()
            continue
        seen += 1
        if recursive and seen > limit:
            raise InvalidRequest(f"the folder holds more than {limit} entries: list its "
                                 "sub-folders one by one")
        yield parent, dirent
        if recursive and dirent.is_dir and dirent.id != EMPTY_ID:
            stack.append((_child(parent, dirent.name),
                          iter(_sorted(tree.load(objects, dirent.id).dirents))))


def list_folder(deps: Deps, actor: User, library_id: str, path: str, *,
                recursive: bool = False, limit: int | None = None) -> Listing:
    """A folder's entries, or with `recursive` every entry below it (at most `limit`)."""
    folder_path = paths.normalize(path)
    cap = MAX_TREE_ENTRIES if limit is None else limit

    def find(objects: LibraryObjects, root: str) -> Listing:
        folder = tree.lookup(objects, root, folder_path)
        if folder is None or not folder.is_dir:
            raise PathNotFound(f"no folder {folder_path}")
        return Listing(folder=folder, entries=list(_walk(
            objects, folder_path, folder.id, recursive=recursive, limit=cap)))

    return at_head(deps, actor, library_id, find)[1]


def file_blocks(deps: Deps, actor: User, library_id: str, path: str) -> FileBlocks:
    """The id and block ids of the file at `path`; needs read access, not an unlocked key."""
    found = find_file(deps, actor, library_id, path)
    return FileBlocks(file_id=found.dirent.id, block_ids=found.file_obj.block_ids,
                      library=found.library)


def _file_with_block(deps: Deps, library: Library, file_id: str, block_id: str) -> None:
    """Refuse a file not stored in the library (404) or a block not in the file (403)."""
    file_obj = LibraryObjects(deps.objects, library.id).load_file(
        require_object_id(file_id, "file id"))
    if require_object_id(block_id, "block id") not in file_obj.block_ids:
        raise PermissionDenied("the block is not a block of this file")


def issue_block_link(deps: Deps, actor: User, library_id: str, file_id: str, block_id: str,
                     *, reuse: bool = False) -> str:
    """A token for one block of one file of a library the actor may read."""
    library = get_library(deps, actor, library_id)
    _file_with_block(deps, library, file_id, block_id)
    return mint_token(deps, actor, library, DOWNLOAD_BLOCKS, file_id, reusable=reuse)


def redeem_block_link(deps: Deps, token: str, block_id: str) -> BlockGrant:
    """The block a link allows; PermissionDenied for a bad token or a block of another file."""
    transfer = redeem(deps, token, DOWNLOAD_BLOCKS)
    _file_with_block(deps, transfer.library, transfer.token.path, block_id)
    return BlockGrant(library_id=transfer.library.id, block_id=block_id)


def block_map(deps: Deps, session: SyncSession, file_id: str) -> list[int]:
    """Stored size of each block of a file of the session's library, in file order."""
    library_id = session.library.id
    file_obj = LibraryObjects(deps.objects, library_id).load_file(
        require_object_id(file_id, "file id"))
    return [deps.objects.size(ObjectKind.BLOCK, library_id, block_id)
            for block_id in file_obj.block_ids]

