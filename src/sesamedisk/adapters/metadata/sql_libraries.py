"""SQL repository of libraries and their branch heads (compare-and-swap advances)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, and_, delete, insert, select, update

from sesamedisk import errors
from sesamedisk.adapters.metadata.sql_support import AnyRow, Executor
from sesamedisk.adapters.metadata.tables import libraries, repo_tokens
from sesamedisk.domain.objects import EncryptionInfo
from sesamedisk.domain.records import CREATING_HEAD, Library

HEADS_CHUNK = 5_000
"""heads() asks for at most this many ids per query (bound-parameter limits)."""


def _library(row: AnyRow) -> Library:
    encryption = None
    if row.enc_version is not None:
        encryption = EncryptionInfo(
            enc_version=row.enc_version, magic=row.magic, random_key=row.random_key,
            salt=row.salt,
        )
    return Library(
        id=row.id,
        name=row.name,
        description=row.description,
        owner_id=row.owner_id,
        encryption=encryption,
        head=row.head,
        created_at=row.created_at,
        updated_at=row.updated_at,
        deleted_at=row.deleted_at,
        regions=None if row.regions is None else frozenset(row.regions.split(",")),
        gc_epoch=row.gc_epoch,
        gc_fence_until=row.gc_fence_until,
        expired_before=row.expired_before,
    )


def _regions_text(regions: frozenset[str] | None) -> str | None:
    return None if regions is None else ",".join(sorted(regions))


def _live() -> ColumnElement[bool]:
    return and_(libraries.c.deleted_at.is_(None), libraries.c.head != CREATING_HEAD)


def _name_order(library: Library) -> tuple[str, str, str]:
    # Sorted here, not by the database: SQLite and PostgreSQL collate differently.
    return (library.name.casefold(), library.name, library.id)


class SqlLibraryRepository:
    """Libraries in the `libraries` table; one branch ("master") head per library."""

    def __init__(self, executor: Executor) -> None:
        self._db = executor

    def add(self, library: Library) -> None:
        """Store a new library; AlreadyExists if the id is taken, UserNotFound for no owner."""
        encryption = library.encryption
        statement = insert(libraries).values(
            id=library.id,
            name=library.name,
            description=library.description,
            owner_id=library.owner_id,
            enc_version=None if encryption is None else encryption.enc_version,
            magic=None if encryption is None else encryption.magic,
            random_key=None if encryption is None else encryption.random_key,
            salt=None if encryption is None else encryption.salt,
            head=library.head,
            created_at=library.created_at,
            updated_at=library.updated_at,
            deleted_at=library.deleted_at,
            regions=_regions_text(library.regions),
        )
        self._db.insert(
            statement,
            exists=errors.AlreadyExists(f"a library with id {library.id!r} already exists"),
            missing=errors.UserNotFound(f"no user with id {library.owner_id}"),
        )

    def get(self, library_id: str, *, include_deleted: bool = False) -> Library | None:
        """The library; a deleted one only with include_deleted."""
        statement = select(libraries).where(libraries.c.id == library_id)
        if not include_deleted:
            statement = statement.where(_live())
        row = self._db.execute(statement).first()
        return None if row is None else _library(row)

    def list_owned(self, owner_id: int) -> Sequence[Library]:
        """The live libraries a user owns, by name (case-insensitively, then exactly, then id)."""
        statement = select(libraries).where(libraries.c.owner_id == owner_id, _live())
        return sorted((_library(row) for row in self._db.execute(statement)), key=_name_order)

    def list_all(self, *, include_deleted: bool = False) -> Sequence[Library]:
        """Every library, oldest first (admin, fsck)."""
        statement = select(libraries).order_by(libraries.c.created_at, libraries.c.id)
        if not include_deleted:
            statement = statement.where(_live())
        return [_library(row) for row in self._db.execute(statement)]

    def heads(self, library_ids: Sequence[str]) -> dict[str, str]:
        """Head commit of each live library among `library_ids` (missing/deleted left out).

        One query, unless more than HEADS_CHUNK distinct ids are asked for.
        """
        wanted = list(dict.fromkeys(library_ids))
        found: dict[str, str] = {}
        for start in range(0, len(wanted), HEADS_CHUNK):
            chunk = wanted[start : start + HEADS_CHUNK]
            statement = select(libraries.c.id, libraries.c.head).where(
                libraries.c.id.in_(chunk), _live()
            )
            found.update((row.id, row.head) for row in self._db.execute(statement))
        return found

    def advance_head(self, library_id: str, *, expected: str, new: str, now: int,
                     gc_epoch: int) -> bool:
        """Compare-and-swap the head from `expected` to `new`; False if it had moved.

        Also False for a missing or deleted library, and when garbage collection changed
        `gc_epoch` since the caller read it (or holds its fence: an odd epoch). A single
        conditional UPDATE: on PostgreSQL a concurrent swap waits for the row lock, then
        re-checks the condition.
        """
        if gc_epoch % 2:
            return False
        statement = (
            update(libraries)
            .where(
                and_(libraries.c.id == library_id, libraries.c.head == expected,
                     libraries.c.gc_epoch == gc_epoch, libraries.c.deleted_at.is_(None))
            )
            .values(head=new, updated_at=now)
        )
        return self._db.execute(statement).rowcount == 1

    def raise_gc_fence(self, library_id: str, *, head: str, gc_epoch: int, until: int,
                       expired_before: int) -> bool:
        """Start a deletion batch: bump an even epoch to odd while the head is still `head`."""
        statement = (
            update(libraries)
            .where(libraries.c.id == library_id, libraries.c.head == head,
                   libraries.c.gc_epoch == gc_epoch, libraries.c.gc_epoch % 2 == 0)
            .values(gc_epoch=gc_epoch + 1, gc_fence_until=until, expired_before=expired_before)
        )
        return self._db.execute(statement).rowcount == 1

    def lower_gc_fence(self, library_id: str, *, gc_epoch: int,
                       expired_by: int | None = None) -> bool:
        """End a deletion batch (epoch odd -> even); with `expired_by` only a lapsed fence."""
        condition = and_(libraries.c.id == library_id, libraries.c.gc_epoch == gc_epoch,
                         libraries.c.gc_epoch % 2 == 1)
        if expired_by is not None:
            condition = and_(condition, libraries.c.gc_fence_until <= expired_by)
        statement = update(libraries).where(condition).values(gc_epoch=gc_epoch + 1,
                                                              gc_fence_until=None)
        return self._db.execute(statement).rowcount == 1

    def list_purgeable(self, *, deleted_before: int) -> Sequence[str]:
        """Ids of libraries deleted before the given time (trash expired), oldest first."""
        statement = (
            select(libraries.c.id)
            .where(libraries.c.deleted_at.is_not(None), libraries.c.deleted_at < deleted_before)
            .order_by(libraries.c.deleted_at, libraries.c.id)
        )
        return [row.id for row in self._db.execute(statement)]

    def mark_purging(self, library_id: str, *, now: int) -> None:
        """Record that a deleted library's objects are being removed (fsck skips it)."""
        statement = (
            update(libraries)
            .where(libraries.c.id == library_id, libraries.c.deleted_at.is_not(None),
                   libraries.c.purged_at.is_(None))
            .values(purged_at=now)
        )
        self._db.execute(statement)

    def is_purging(self, library_id: str) -> bool:
        """True once garbage collection started removing a deleted library's objects."""
        statement = select(libraries.c.purged_at).where(libraries.c.id == library_id)
        row = self._db.execute(statement).first()
        return row is not None and row.purged_at is not None

    def remove(self, library_id: str) -> None:
        """Forget a purged library: its row and its sync tokens."""
        self._db.execute(delete(repo_tokens).where(repo_tokens.c.library_id == library_id))
        self._db.execute(delete(libraries).where(libraries.c.id == library_id))

    def update_info(self, library_id: str, *, name: str, description: str, now: int) -> None:
        """Rename or re-describe a live library; LibraryNotFound or LibraryDeleted otherwise."""
        statement = (
            update(libraries)
            .where(libraries.c.id == library_id, _live())
            .values(name=name, description=description, updated_at=now)
        )
        if self._db.execute(statement).rowcount != 1:
            self._raise_missing(library_id)

    def mark_deleted(self, library_id: str, *, now: int) -> None:
        """Soft-delete a library; deleting it again keeps the first deletion time.

        LibraryNotFound if there never was such a library.
        """
        statement = (
            update(libraries).where(libraries.c.id == library_id, _live()).values(deleted_at=now)
        )
        if self._db.execute(statement).rowcount != 1 and self.get(
            library_id, include_deleted=True
        ) is None:
            raise errors.LibraryNotFound(f"no library {library_id!r}")

    def _raise_missing(self, library_id: str) -> None:
        if self.get(library_id, include_deleted=True) is None:
            raise errors.LibraryNotFound(f"no library {library_id!r}")
        raise errors.LibraryDeleted(f"library {library_id!r} was deleted")
