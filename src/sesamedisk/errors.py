"""The one error tree of sesamedisk; transports map these classes to status codes."""

from __future__ import annotations


class SesameError(Exception):
    """Base of every error sesamedisk raises on purpose."""

    def __init__(self, message: str = "") -> None:
        super().__init__(message or self.__class__.__doc__ or self.__class__.__name__)
        self.message = message or (self.__class__.__doc__ or self.__class__.__name__)


class InvalidRequest(SesameError):
    """The request is malformed."""


class Unauthenticated(SesameError):
    """No valid credentials were given."""


class PermissionDenied(SesameError):
    """The acting principal may not do this."""


class NotFound(SesameError):
    """The thing asked for does not exist."""


class LibraryNotFound(NotFound):
    """No such library."""


class LibraryDeleted(NotFound):
    """The library was deleted."""


class PathNotFound(NotFound):
    """No such file or folder in the library."""


class ObjectNotFound(NotFound):
    """No such object in the store."""


class UserNotFound(NotFound):
    """No such user."""


class Conflict(SesameError):
    """The request conflicts with the current state."""


class AlreadyExists(Conflict):
    """Something with that name or id already exists."""


class HeadMoved(Conflict):
    """The library head moved while the change was being made."""


class FileLocked(Conflict):
    """The file is locked by someone else."""


class LibraryLocked(PermissionDenied):
    """The library is encrypted and not unlocked with its password for this session."""


class QuotaExceeded(SesameError):
    """The storage quota is used up."""


class TooManyRequests(SesameError):
    """Too many of something open at once (e.g. unfinished uploads); finish some first."""


class TooLarge(SesameError):
    """The request or object is larger than allowed."""


class Corrupted(SesameError):
    """Stored bytes do not match their id; never a kind of NotFound, always an alarm."""


class Unavailable(SesameError):
    """A backend is temporarily unavailable; retrying may help."""
