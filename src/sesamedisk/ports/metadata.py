"""The metadata ports: a unit of work over repositories of users, tokens and libraries."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, Self

from sesamedisk.domain.objects import EncryptionInfo
from sesamedisk.domain.records import ApiToken, Library, RepoToken, User
from sesamedisk.domain.uploads import Upload, UploadBlock


class UserRepository(Protocol):
    """Accounts."""

    def add(self, *, email: str, password_hash: str, is_admin: bool, now: int) -> User:
        """Create a user; AlreadyExists if the (case-folded) email is taken."""
        ...

    def get(self, user_id: int) -> User | None:
        """The user with this id."""
        ...

    def get_by_email(self, email: str) -> User | None:
        """The user with this email, compared case-insensitively."""
        ...

    def list(self) -> Sequence[User]:
        """All users, oldest first."""
        ...

    def count(self) -> int:
        """How many users exist."""
        ...

    def set_password_hash(self, user_id: int, password_hash: str) -> None:
        """Replace a user's password hash (rehash on login, password change)."""
        ...


class ApiTokenRepository(Protocol):
    """api2 tokens."""

    def add(self, token: ApiToken) -> None:
        """Store a new token."""
        ...

    def get(self, token: str) -> ApiToken | None:
        """The token record, if the token exists."""
        ...

    def delete(self, token: str) -> None:
        """Revoke a token."""
        ...


class RepoTokenRepository(Protocol):
    """Sync tokens bound to (library, user)."""

    def add(self, token: RepoToken) -> None:
        """Store a new token."""
        ...

    def get(self, token: str) -> RepoToken | None:
        """The token record, if the token exists."""
        ...

    def delete_for_library(self, library_id: str) -> None:
        """Revoke every token of a library."""
        ...


class LibraryRepository(Protocol):
    """Libraries and their branch head (one branch, "master", per library)."""

    def add(self, library: Library) -> None:
        """Store a new library with its initial head; AlreadyExists if the id is taken."""
        ...

    def get(self, library_id: str, *, include_deleted: bool = False) -> Library | None:
        """The library; a deleted one only with include_deleted."""
        ...

    def list_owned(self, owner_id: int) -> Sequence[Library]:
        """The live libraries a user owns, by name."""
        ...

    def list_all(self, *, include_deleted: bool = False) -> Sequence[Library]:
        """Every library (admin, fsck)."""
        ...

    def heads(self, library_ids: Sequence[str]) -> dict[str, str]:
        """Head commit of each live library among `library_ids` (missing/deleted left out)."""
        ...

    def advance_head(self, library_id: str, *, expected: str, new: str, now: int,
                     gc_epoch: int) -> bool:
        """Compare-and-swap the head from `expected` to `new`; False if it had moved.

        Also False when `gc_epoch` (as read with the head, before the caller checked its
        objects) changed or is odd: garbage collection may have deleted objects meanwhile.
        """
        ...

    def raise_gc_fence(self, library_id: str, *, head: str, gc_epoch: int, until: int,
                       expired_before: int) -> bool:
        """Start a deletion batch: even epoch -> odd, only while the head is still `head`."""
        ...

    def lower_gc_fence(self, library_id: str, *, gc_epoch: int,
                       expired_by: int | None = None) -> bool:
        """End a deletion batch (odd -> even); with `expired_by` only a fence lapsed by then."""
        ...

    def list_purgeable(self, *, deleted_before: int) -> Sequence[str]:
        """Ids of libraries deleted before the given time (their trash time is over)."""
        ...

    def mark_purging(self, library_id: str, *, now: int) -> None:
        """Record that a deleted library's objects are being removed."""
        ...

    def is_purging(self, library_id: str) -> bool:
        """True once garbage collection started removing a deleted library's objects."""
        ...

    def remove(self, library_id: str) -> None:
        """Forget a purged library: its row and its sync tokens."""
        ...

    def update_info(self, library_id: str, *, name: str, description: str, now: int) -> None:
        """Rename or re-describe a library."""
        ...

    def mark_deleted(self, library_id: str, *, now: int) -> None:
        """Soft-delete a library: sync clients then get 444 and unsync it."""
        ...


@dataclass(frozen=True, slots=True)
class TransferToken:
    """An access token embedded in a /seafhttp transfer URL (download, upload, update).

    `path` is the file (download, update) or the folder uploads go to (upload). A token
    that is not `reusable` is consumed by its first use; every token ends at `expires_at`.
    """

    token: str
    user_id: int
    library_id: str
    op: str
    path: str
    expires_at: int
    reusable: bool
    created_at: int


class TransferTokenRepository(Protocol):
    """Access tokens of /seafhttp transfer URLs, stored hashed."""

    def add(self, token: TransferToken) -> None:
        """Store a new token; NotFound if its library or user is missing."""
        ...

    def use(self, token: str, *, op: str, now: int) -> TransferToken | None:
        """The live token's record for `op`, deleting a one-time token; else None.

        Of concurrent uses of a one-time token exactly one gets the record.
        """
        ...

    def delete_expired(self, *, now: int) -> int:
        """Forget tokens that expired before `now`; how many there were."""
        ...


class UploadRepository(Protocol):
    """Resumable upload sessions and the blocks each has stored so far."""

    def add(self, upload: Upload) -> None:
        """Record a new session (received 0, no blocks)."""
        ...

    def get(self, upload_id: str) -> Upload | None:
        """The session with this id."""
        ...

    def find(self, *, user_id: int, library_id: str, path: str,
             size: int | None) -> Upload | None:
        """The user's most recently updated session for this path (and size, unless None)."""
        ...

    def count_for_user(self, user_id: int) -> int:
        """How many sessions the user has open."""
        ...

    def blocks(self, upload_id: str) -> Sequence[UploadBlock]:
        """The session's final blocks in file order."""
        ...

    def lock_gc_epoch(self, library_id: str) -> int | None:
        """The library's GC epoch, locking its row until the transaction ends; None if gone."""
        ...

    def advance(self, upload_id: str, *, expected: int, new: int,
                blocks: Sequence[UploadBlock], tail_block_id: str | None, now: int) -> bool:
        """Compare-and-swap `received` from `expected` to `new`, appending `blocks`.

        False (and nothing changed) when the session is gone or `received` was not `expected`.
        """
        ...

    def delete(self, upload_id: str) -> bool:
        """Forget a session and its block list; False if there was none."""
        ...

    def referenced_blocks(self, library_id: str) -> set[str]:
        """Every block id (tails included) the library's open sessions refer to."""
        ...

    def delete_stale(self, *, updated_before: int) -> int:
        """Forget sessions not updated since the given time; how many were."""
        ...


class UnitOfWork(Protocol):
    """One metadata transaction; leaving the `with` block without commit() rolls back."""

    users: UserRepository
    api_tokens: ApiTokenRepository
    repo_tokens: RepoTokenRepository
    libraries: LibraryRepository
    transfer_tokens: TransferTokenRepository
    uploads: UploadRepository

    def __enter__(self) -> Self:
        """Begin the transaction."""
        ...

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        """Roll back unless committed."""
        ...

    def commit(self) -> None:
        """Make the transaction's changes durable."""
        ...


UnitOfWorkFactory = Callable[[], UnitOfWork]
"""Builds a fresh UnitOfWork for each use case."""

__all__ = ["EncryptionInfo", "UnitOfWork", "UnitOfWorkFactory"]
