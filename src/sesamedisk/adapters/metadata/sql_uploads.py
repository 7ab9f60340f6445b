"""SQL repository of resumable upload sessions (compare-and-swap on `received`)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, func, insert, select, update

from sesamedisk import errors
from sesamedisk.adapters.metadata.sql_support import AnyRow, Executor
from sesamedisk.adapters.metadata.tables import libraries, upload_blocks, uploads
from sesamedisk.domain.uploads import Upload, UploadBlock

INSERT_CHUNK = 500
"""Block rows per INSERT (bound-parameter limits)."""


def _upload(row: AnyRow) -> Upload:
    return Upload(id=row.id, user_id=row.user_id, library_id=row.library_id, path=row.path,
                  size=row.size, received=row.received, tail_block_id=row.tail_block_id,
                  mtime=row.mtime, replace=row.replace, created_at=row.created_at,
                  updated_at=row.updated_at)


class SqlUploadRepository:
    """Sessions in `uploads`, their final blocks in `upload_blocks` (one row per block)."""

    def __init__(self, executor: Executor) -> None:
        self._db = executor

    def add(self, upload: Upload) -> None:
        """Record a new session; NotFound if its user or library is missing."""
        statement = insert(uploads).values(
            id=upload.id, user_id=upload.user_id, library_id=upload.library_id,
            path=upload.path, size=upload.size, received=upload.received,
            tail_block_id=upload.tail_block_id, mtime=upload.mtime, replace=upload.replace,
            created_at=upload.created_at, updated_at=upload.updated_at)
        self._db.insert(statement,
                        exists=errors.AlreadyExists(f"upload {upload.id} already exists"),
                        missing=errors.NotFound("no such user or library"))

    def get(self, upload_id: str) -> Upload | None:
        """The session with this id."""
        row = self._db.execute(select(uploads).where(uploads.c.id == upload_id)).first()
        return None if row is None else _upload(row)

    def find(self, *, user_id: int, library_id: str, path: str,
             size: int | None) -> Upload | None:
        """The user's most recently updated session for this path (and size, unless None)."""
        statement = (
            select(uploads)
            .where(uploads.c.user_id == user_id, uploads.c.library_id == library_id,
                   uploads.c.path == path)
            .order_by(uploads.c.updated_at.desc(), uploads.c.id)
            .limit(1)
        )
        if size is not None:
            statement = statement.where(uploads.c.size == size)
        row = self._db.execute(statement).first()
        return None if row is None else _upload(row)

    def count_for_user(self, user_id: int) -> int:
        """How many sessions the user has open."""
        statement = select(func.count()).select_from(uploads).where(uploads.c.user_id == user_id)
        return int(self._db.execute(statement).scalar_one())

    def blocks(self, upload_id: str) -> Sequence[UploadBlock]:
        """The session's final blocks in file order."""
        statement = (
            select(upload_blocks.c.block_id, upload_blocks.c.size)
            .where(upload_blocks.c.upload_id == upload_id)
            .order_by(upload_blocks.c.seq)
        )
        return [UploadBlock(row.block_id, row.size) for row in self._db.execute(statement)]

    def lock_gc_epoch(self, library_id: str) -> int | None:
        """The library's GC epoch; its row stays locked until the transaction ends.

        PostgreSQL: SELECT ... FOR UPDATE, so a collector's fence waits for this transaction.
        SQLite: the transaction already holds the database's write lock (BEGIN IMMEDIATE).
        """
        statement = (
            select(libraries.c.gc_epoch).where(libraries.c.id == library_id).with_for_update()
        )
        row = self._db.execute(statement).first()
        return None if row is None else int(row.gc_epoch)

    def advance(self, upload_id: str, *, expected: int, new: int,
                blocks: Sequence[UploadBlock], tail_block_id: str | None, now: int) -> bool:
        """Compare-and-swap `received` from `expected` to `new`, appending `blocks`.

        One conditional UPDATE decides: on PostgreSQL a racing swap waits for the row lock,
        then re-checks `received` and fails.
        """
        statement = (
            update(uploads)
            .where(uploads.c.id == upload_id, uploads.c.received == expected)
            .values(received=new, tail_block_id=tail_block_id, updated_at=now)
        )
        if self._db.execute(statement).rowcount != 1:
            return False
        count = select(func.count()).select_from(upload_blocks).where(
            upload_blocks.c.upload_id == upload_id)
        first = int(self._db.execute(count).scalar_one())
        rows = [{"upload_id": upload_id, "seq": first + index, "block_id": block.block_id,
                 "size": block.size} for index, block in enumerate(blocks)]
        for start in range(0, len(rows), INSERT_CHUNK):
            self._db.execute(insert(upload_blocks).values(rows[start:start + INSERT_CHUNK]))
        return True

    def delete(self, upload_id: str) -> bool:
        """Forget a session and its block list; False if there was none."""
        self._db.execute(delete(upload_blocks).where(upload_blocks.c.upload_id == upload_id))
        return self._db.execute(delete(uploads).where(uploads.c.id == upload_id)).rowcount == 1

    def referenced_blocks(self, library_id: str) -> set[str]:
        """Every block id (tails included) the library's open sessions refer to."""
        blocks = (
            select(upload_blocks.c.block_id)
            .join(uploads, uploads.c.id == upload_blocks.c.upload_id)
            .where(uploads.c.library_id == library_id)
        )
        tails = select(uploads.c.tail_block_id).where(
            uploads.c.library_id == library_id, uploads.c.tail_block_id.is_not(None))
        found = {row.block_id for row in self._db.execute(blocks)}
        found.update(row.tail_block_id for row in self._db.execute(tails))
        return found

    def delete_stale(self, *, updated_before: int) -> int:
        """Forget sessions not updated since the given time; how many were."""
        stale = select(uploads.c.id).where(uploads.c.updated_at < updated_before)
        self._db.execute(delete(upload_blocks).where(upload_blocks.c.upload_id.in_(stale)))
        statement = delete(uploads).where(uploads.c.updated_at < updated_before)
        return int(self._db.execute(statement).rowcount)
