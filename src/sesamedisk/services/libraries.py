"""Libraries: create (plain or encrypted), list, inspect, rename, delete, sync tokens."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace

from sesamedisk.domain import crypto
from sesamedisk.domain.access import Permission, can_read, can_write, library_permission
from sesamedisk.domain.ids import EMPTY_ID, new_library_id, require_library_id
from sesamedisk.domain.objects import EncryptionInfo
from sesamedisk.domain.records import CREATING_HEAD, Library, RepoToken, User
from sesamedisk.errors import InvalidRequest, PermissionDenied
from sesamedisk.ports.deps import Deps
from sesamedisk.services.commits import build_commit, load_live_library, store_new_commit
from sesamedisk.services.library_objects import LibraryObjects

MAX_NAME_LENGTH = 255
SUPPORTED_CLIENT_ENC_VERSIONS = (2, 4)


@dataclass(frozen=True)
class LibraryView:
    """A library as one user sees it."""

    library: Library
    permission: Permission
    owner_email: str
    size: int = 0


def _check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > MAX_NAME_LENGTH or "/" in name or "\0" in name:
        raise InvalidRequest("library name must be 1-255 characters without '/'")
    return name


def _client_encryption(enc_version: int, magic: str, random_key: str, salt: str) -> EncryptionInfo:
    if enc_version not in SUPPORTED_CLIENT_ENC_VERSIONS:
        raise InvalidRequest(f"unsupported enc_version {enc_version}")
    if len(magic) != 64 or len(random_key) != 96 or (enc_version >= 3 and len(salt) != 64):
        raise InvalidRequest("magic must be 64, random_key 96 (and salt 64) characters")
    return EncryptionInfo(enc_version=enc_version, magic=magic, random_key=random_key, salt=salt)


def create_library(deps: Deps, actor: User, *, name: str, description: str = "",
                   password: str | None = None, library_id: str | None = None,
                   client_encryption: tuple[int, str, str, str] | None = None,
                   regions: frozenset[str] | None = None) -> Library:
    """Create a library owned by `actor` with its initial empty commit.

    `password` makes the server generate enc_version 2 parameters and then forget it;
    `client_encryption` (enc_version, magic, random_key, salt) stores a client's own.
    `regions` pins the library's bytes to backends of those regions (default: the
    server's default regions). The row exists before any object, with an empty head,
    so the object store can place every byte by the library's regions; the head is set
    once the initial commit is durable (a crash in between leaves an invisible row
    that garbage collection removes).
    """
    name = _check_name(name)
    library_id = require_library_id(library_id) if library_id else new_library_id()
    encryption: EncryptionInfo | None = None
    if password is not None:
        if not password:
            raise InvalidRequest("library password must not be empty")
        encryption = crypto.make_encryption(library_id, password)
    elif client_encryption is not None:
        encryption = _client_encryption(*client_encryption)
    regions = deps.default_regions if regions is None else regions
    if regions is not None and deps.storage is not None:
        deps.storage.check_regions(regions)
    now = deps.clock()
    draft = Library(id=library_id, name=name, description=description, owner_id=actor.id,
                    encryption=encryption, head=CREATING_HEAD, created_at=now, updated_at=now,
                    regions=regions)
    with deps.uow() as uow:
        uow.libraries.add(draft)
        uow.commit()
    objects = LibraryObjects(deps.objects, library_id)
    initial = store_new_commit(objects, build_commit(
        draft, root_id=EMPTY_ID, parent_id=None, author_email=actor.email,
        description="Created library", ctime=now))
    deps.objects.flush()
    with deps.uow() as uow:
        uow.libraries.advance_head(library_id, expected=CREATING_HEAD, new=initial.commit_id,
                                   now=now, gc_epoch=0)
        uow.commit()
    return replace(draft, head=initial.commit_id)


def get_library(deps: Deps, actor: User, library_id: str) -> Library:
    """A live library `actor` may read; PermissionDenied, LibraryNotFound or LibraryDeleted."""
    library = load_live_library(deps, require_library_id(library_id))
    if not can_read(actor, library):
        raise PermissionDenied("you have no access to this library")
    return library


def writable_library(deps: Deps, actor: User, library_id: str, *,
                     which: str = "this") -> Library:
    """A live library `actor` may write; PermissionDenied names it as `which` library otherwise."""
    library = get_library(deps, actor, library_id)
    if not can_write(actor, library):
        raise PermissionDenied(f"no write permission on {which} library")
    return library


def list_libraries(deps: Deps, actor: User) -> list[LibraryView]:
    """The libraries `actor` can see."""
    with deps.uow() as uow:
        owned = uow.libraries.list_owned(actor.id)
    return [LibraryView(library=lib, permission=library_permission(actor, lib),
                        owner_email=actor.email) for lib in owned]


def delete_library(deps: Deps, actor: User, library_id: str) -> None:
    """Delete a library (owner only); sync clients then unsync it."""
    library = get_library(deps, actor, library_id)
    if library.owner_id != actor.id:
        raise PermissionDenied("only the owner may delete a library")
    with deps.uow() as uow:
        uow.libraries.mark_deleted(library.id, now=deps.clock())
        uow.commit()


def rename_library(deps: Deps, actor: User, library_id: str, name: str) -> Library:
    """Rename a library (owner only); the renamed library."""
    library = get_library(deps, actor, library_id)
    if library.owner_id != actor.id:
        raise PermissionDenied("only the owner may rename a library")
    name = _check_name(name)
    now = deps.clock()
    with deps.uow() as uow:
        uow.libraries.update_info(library.id, name=name, description=library.description, now=now)
        uow.commit()
    return replace(library, name=name, updated_at=now)


def unlock_library(deps: Deps, actor: User, library_id: str, password: str) -> crypto.FileKey:
    """The file key of an encrypted library, given its password; InvalidRequest if wrong."""
    library = get_library(deps, actor, library_id)
    if library.encryption is None:
        raise InvalidRequest("the library is not encrypted")
    if not crypto.verify_password(library.id, password, library.encryption):
        raise InvalidRequest("wrong library password")
    return crypto.unlock(library.id, password, library.encryption)


def issue_sync_token(deps: Deps, actor: User, library_id: str) -> tuple[Library, str]:
    """A fresh repo (sync) token for (library, actor), as download-info hands out."""
    library = get_library(deps, actor, library_id)
    token = secrets.token_hex(20)
    with deps.uow() as uow:
        uow.repo_tokens.add(RepoToken(token=token, library_id=library.id, user_id=actor.id,
                                      created_at=deps.clock()))
        uow.commit()
    return library, token
