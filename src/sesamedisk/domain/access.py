"""Permission rules: who may read or write a library."""

from __future__ import annotations

from enum import StrEnum

from sesamedisk.domain.records import Library, User


class Permission(StrEnum):
    """Access a principal has to a library, in Seafile's spelling."""

    NONE = ""
    READ = "r"
    READ_WRITE = "rw"


def library_permission(user: User, library: Library) -> Permission:
    """The permission `user` has on `library`; until sharing exists only the owner has any."""
    if not user.is_active:
        return Permission.NONE
    if library.owner_id == user.id:
        return Permission.READ_WRITE
    return Permission.NONE


def can_read(user: User, library: Library) -> bool:
    """True when `user` may see and download the library."""
    return library_permission(user, library) in (Permission.READ, Permission.READ_WRITE)


def can_write(user: User, library: Library) -> bool:
    """True when `user` may change the library."""
    return library_permission(user, library) is Permission.READ_WRITE
