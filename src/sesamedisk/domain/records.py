"""Metadata records: users, tokens, libraries and their heads."""

from __future__ import annotations

from dataclasses import dataclass

from sesamedisk.domain.objects import EncryptionInfo


@dataclass(frozen=True, slots=True)
class User:
    """An account; `password_hash` is an Argon2id PHC string."""

    id: int
    email: str
    password_hash: str
    is_admin: bool
    is_active: bool
    created_at: int


@dataclass(frozen=True, slots=True)
class ApiToken:
    """An api2 token (`Authorization: Token ...`) issued to one device of one user."""

    token: str
    user_id: int
    device_id: str
    device_name: str
    platform: str
    created_at: int


@dataclass(frozen=True, slots=True)
class RepoToken:
    """A sync token (`Seafile-Repo-Token`) bound to one library and one user."""

    token: str
    library_id: str
    user_id: int
    created_at: int


CREATING_HEAD = ""
"""Head of a library whose initial commit is not durable yet: it does not exist for users."""


@dataclass(frozen=True, slots=True)
class Library:
    """A library (Seafile "repo"); `head` is the commit id its branch points at."""

    id: str
    name: str
    description: str
    owner_id: int
    encryption: EncryptionInfo | None
    head: str
    created_at: int
    updated_at: int
    deleted_at: int | None = None
    regions: frozenset[str] | None = None
    """Regions whose backends may hold the library's bytes; None: any region."""
    gc_epoch: int = 0
    """Bumped by garbage collection around deletions; odd while a collector deletes."""
    gc_fence_until: int | None = None
    """When an odd `gc_epoch` stops counting (a killed collector's fence expires)."""
    expired_before: int = 0
    """Commits older than this (ctime) may have had their trees collected (history retention)."""

    @property
    def encrypted(self) -> bool:
        """True for a client-side encrypted library."""
        return self.encryption is not None

    @property
    def creating(self) -> bool:
        """True until the initial commit is stored (then the library becomes visible)."""
        return self.head == CREATING_HEAD

    def fenced(self, now: int) -> bool:
        """True while a garbage collector holds the library's deletion fence."""
        return self.gc_epoch % 2 == 1 and (self.gc_fence_until or 0) > now
