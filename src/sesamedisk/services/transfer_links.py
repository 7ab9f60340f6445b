"""Transfer links: access tokens of /seafhttp download, upload and update URLs (spec §10).

Token policy: a download token is consumed by its first use unless the link was asked for
with `reuse`; an upload or update token stays valid until it expires, because a resumable
upload posts every chunk to the same URL. Every token expires `LINK_SECONDS` after it was
issued and is redeemed only for the operation it was issued for (a caller may name several
it accepts, as raw block uploads do for upload and update links); redeeming re-checks the
user's permission, so a revoked user cannot use links handed out earlier.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence, Set
from dataclasses import dataclass

from sesamedisk.domain import paths, tree
from sesamedisk.domain.objects import MODE_FILE, Dirent, DirObject, FileObject
from sesamedisk.domain.records import Library, User
from sesamedisk.errors import (
    AlreadyExists,
    InvalidRequest,
    PathNotFound,
    PermissionDenied,
)
from sesamedisk.ports.deps import Deps
from sesamedisk.ports.metadata import TransferToken
from sesamedisk.services.commits import commit_change
from sesamedisk.services.files import free_name
from sesamedisk.services.libraries import get_library, writable_library
from sesamedisk.services.library_objects import LibraryObjects

DOWNLOAD, UPLOAD, UPDATE = "download", "upload", "update"
OPS = (DOWNLOAD, UPLOAD, UPDATE)
DOWNLOAD_BLOCKS = "downloadblks"
"""The op of a link to the raw blocks of one file (services/client_reads)."""
READ_OPS = frozenset({DOWNLOAD, DOWNLOAD_BLOCKS})
WRITE_OPS = frozenset({UPLOAD, UPDATE})
"""The ops of links that write into their folder."""
LINK_SECONDS = 3600
"""How long a transfer link stays usable."""


@dataclass(frozen=True)
class Transfer:
    """A redeemed token: the acting user, the library (re-checked) and the token's record."""

    actor: User
    library: Library
    token: TransferToken


@dataclass(frozen=True)
class NewFile:
    """A file whose content is stored, waiting to be added to a folder."""

    name: str
    content: FileObject
    relative_path: str = ""
    mtime: int | None = None


def entry_at(deps: Deps, actor: User, library_id: str, path: str) -> Dirent | None:
    """The entry at `path` in the library's head (the root dirent for "/"), None if absent."""
    library = get_library(deps, actor, library_id)
    objects = LibraryObjects(deps.objects, library.id)
    return tree.lookup(objects, objects.root_of(library.head), paths.normalize(path))


def _require(entry: Dirent | None, path: str, *, folder: bool) -> Dirent:
    if entry is None or entry.is_dir != folder:
        raise PathNotFound(f"no {'folder' if folder else 'file'} {path}")
    return entry


def issue_link(deps: Deps, actor: User, library_id: str, op: str, path: str, *,
               reuse: bool = False) -> tuple[str, Dirent]:
    """A new token for `op` on `path` (a file to download, a folder to upload or update in).

    Returns the token and the entry at `path`. Upload and update need write permission.
    """
    if op not in OPS:
        raise InvalidRequest(f"unknown transfer operation {op!r}")
    library = get_library(deps, actor, library_id) if op == DOWNLOAD \
        else writable_library(deps, actor, library_id)
    target = paths.normalize(path)
    entry = _require(entry_at(deps, actor, library.id, target), target, folder=op != DOWNLOAD)
    return mint_token(deps, actor, library, op, target, reusable=reuse or op != DOWNLOAD), entry


def mint_token(deps: Deps, actor: User, library: Library, op: str, path: str, *,
               reusable: bool) -> str:
    """Store a new token for `op` on `path`, valid LINK_SECONDS (expired ones are dropped)."""
    token, now = secrets.token_urlsafe(30), deps.clock()
    record = TransferToken(token=token, user_id=actor.id, library_id=library.id, op=op,
                           path=path, expires_at=now + LINK_SECONDS, reusable=reusable,
                           created_at=now)
    with deps.uow() as uow:
        uow.transfer_tokens.delete_expired(now=now)
        uow.transfer_tokens.add(record)
        uow.commit()
    return token


def redeem(deps: Deps, token: str, ops: str | Set[str] | tuple[str, ...]) -> Transfer:
    """The transfer a token allows for `ops` (one op or any of several), in one transaction.

    PermissionDenied if the token is unknown, expired, used or issued for another op.
    """
    accepted = (ops,) if isinstance(ops, str) else tuple(ops)
    with deps.uow() as uow:
        now = deps.clock()
        record = None
        for op in accepted:  # a token has one op: at most one of these finds it
            record = uow.transfer_tokens.use(token, op=op, now=now)
            if record is not None:
                break
        user = None if record is None else uow.users.get(record.user_id)
        uow.commit()
    if record is None or user is None or not user.is_active:
        raise PermissionDenied("invalid or expired access token")
    library = get_library(deps, user, record.library_id) if record.op in READ_OPS \
        else writable_library(deps, user, record.library_id)
    return Transfer(actor=user, library=library, token=record)


def link_folder(transfer: Transfer, parent_dir: str) -> str:
    """The upload link's folder, which `parent_dir` must name; PermissionDenied otherwise."""
    if paths.normalize(parent_dir) != transfer.token.path:
        raise PermissionDenied("parent_dir is not the folder of this upload link")
    return transfer.token.path


def file_in_link_folder(transfer: Transfer, target: str) -> str:
    """`target` normalised, a file in the update link's folder; PermissionDenied otherwise."""
    path = paths.normalize(target)
    if paths.is_root(path) or paths.parent(path) != transfer.token.path:
        raise PermissionDenied("target_file is not in the folder of this update link")
    return path


def _describe(names: Sequence[str], verb: str) -> str:
    if len(names) == 1:
        return f'{verb} "{names[0]}".'
    return f'{verb} "{names[0]}" and {len(names) - 1} more files.'


def add_files(deps: Deps, actor: User, library_id: str, parent_dir: str,
              new_files: Sequence[NewFile], *, replace: bool = False) -> list[Dirent]:
    """Add stored files to `parent_dir` (and sub-folders) in one commit; their entries.

    A name already taken gets "name (1).ext" unless `replace` (then an existing file is
    replaced; a folder of that name still forces a new name).
    """
    library = writable_library(deps, actor, library_id)
    parent = paths.normalize(parent_dir)
    objects = LibraryObjects(deps.objects, library.id)
    stored = [(f, objects.put(f.content), paths.validate_name(f.name)) for f in new_files]
    placed: list[Dirent] = []

    def change(objs: LibraryObjects, root: str) -> tuple[str, str]:
        placed.clear()
        _require(tree.lookup(objs, root, parent), parent, folder=True)
        for new, file_id, wanted in stored:
            folder = paths.join(parent, *paths.split(new.relative_path))
            existing = tree.lookup(objs, root, folder)
            if existing is not None and not existing.is_dir:
                raise AlreadyExists(f"{folder} is a file, not a folder")
            directory = tree.load(objs, existing.id) if existing else DirObject()
            same = directory.get(wanted)
            keep = replace and same is not None and not same.is_dir
            name = wanted if keep else free_name(directory, wanted, is_dir=False)
            now = deps.clock()
            dirent = Dirent(id=file_id, mode=MODE_FILE, name=name, modifier=actor.email,
                            mtime=new.mtime if new.mtime is not None else now,
                            size=new.content.size)
            root = tree.put_entry(objs, objs, root, folder, dirent, mtime=now)
            placed.append(dirent)
        return root, _describe([d.name for d in placed], "Added")

    commit_change(deps, actor, library.id, change)
    return list(placed)


def update_file(deps: Deps, actor: User, library_id: str, path: str, content: FileObject, *,
                mtime: int | None = None) -> Dirent:
    """Replace the content of the existing file at `path`; PathNotFound if it is not there."""
    library = writable_library(deps, actor, library_id)
    target = paths.normalize(path)
    objects = LibraryObjects(deps.objects, library.id)
    file_id = objects.put(content)
    result: list[Dirent] = []

    def change(objs: LibraryObjects, root: str) -> tuple[str, str]:
        _require(tree.lookup(objs, root, target), target, folder=False)
        now = deps.clock()
        dirent = Dirent(id=file_id, mode=MODE_FILE, name=paths.basename(target),
                        mtime=mtime if mtime is not None else now, modifier=actor.email,
                        size=content.size)
        result[:] = [dirent]
        return tree.put_entry(objs, objs, root, paths.parent(target), dirent, mtime=now,
                              create_parents=False), _describe([dirent.name], "Modified")

    commit_change(deps, actor, library.id, change)
    return result[0]


def key_holder(token: str) -> str:
    """The name under which an encrypted library's unlocked key is kept for a link's life."""
    return f"transfer-link:{token}"



def uploaded_bytes(deps: Deps, actor: User, library_id: str, path: str) -> int:
    """How many bytes of a resumable upload to `path` the server holds (0 if none is open)."""
    library = get_library(deps, actor, library_id)
    with deps.uow() as uow:
        upload = uow.uploads.find(user_id=actor.id, library_id=library.id,
                                  path=paths.normalize(path), size=None)
    return 0 if upload is None else upload.received
