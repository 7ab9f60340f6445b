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

    @property
    def encrypted(self) -> bool:
        """True for a client-side encrypted library."""
        return self.encryption is not None
