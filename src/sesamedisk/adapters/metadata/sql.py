"""SqlUnitOfWork: the metadata UnitOfWork port on SQLAlchemy Core (SQLite, PostgreSQL)."""

from __future__ import annotations

import logging
from types import TracebackType
from typing import Self

from sqlalchemy import Connection, Engine

from sesamedisk.adapters.metadata.sql_accounts import (
    SqlApiTokenRepository,
    SqlRepoTokenRepository,
    SqlUserRepository,
)
from sesamedisk.adapters.metadata.sql_libraries import SqlLibraryRepository
from sesamedisk.adapters.metadata.sql_support import Executor, unavailable_on_operational_error
from sesamedisk.adapters.metadata.sql_transfer_tokens import SqlTransferTokenRepository
from sesamedisk.adapters.metadata.sql_uploads import SqlUploadRepository
from sesamedisk.ports.metadata import (
    ApiTokenRepository,
    LibraryRepository,
    RepoTokenRepository,
    TransferTokenRepository,
    UnitOfWork,
    UnitOfWorkFactory,
    UploadRepository,
    UserRepository,
)

__all__ = ["SqlUnitOfWork", "sql_unit_of_work_factory"]

_log = logging.getLogger(__name__)


class SqlUnitOfWork:
    """One database transaction over the four repositories.

    `with uow:` checks a connection out of the engine's pool; the transaction begins with
    the first statement (on SQLite: BEGIN IMMEDIATE). commit() makes the work so far
    durable; statements after it run in a new transaction. Leaving the block rolls back
    whatever was not committed and returns the connection. Using a repository outside the
    block raises RuntimeError. Database outages surface as errors.Unavailable.
    """

    users: UserRepository
    api_tokens: ApiTokenRepository
    repo_tokens: RepoTokenRepository
    libraries: LibraryRepository
    transfer_tokens: TransferTokenRepository
    uploads: UploadRepository

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._connection: Connection | None = None
        executor = Executor(self._current_connection)
        self.users = SqlUserRepository(executor)
        self.api_tokens = SqlApiTokenRepository(executor)
        self.repo_tokens = SqlRepoTokenRepository(executor)
        self.libraries = SqlLibraryRepository(executor)
        self.transfer_tokens = SqlTransferTokenRepository(executor)
        self.uploads = SqlUploadRepository(executor)

    def __enter__(self) -> Self:
        """Check out a connection; the transaction begins with the first statement."""
        if self._connection is not None:
            raise RuntimeError("this unit of work is already in use")
        with unavailable_on_operational_error():
            self._connection = self._engine.connect()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        """Roll back anything not committed and return the connection to the pool."""
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            if connection.in_transaction():
                connection.rollback()
        except Exception:
            if exc is None:
                raise
            # Do not hide the error that ended the block behind a failed rollback.
            _log.warning("rollback failed while handling %r", exc, exc_info=True)
        finally:
            connection.close()

    def commit(self) -> None:
        """Make the transaction's changes durable."""
        connection = self._current_connection()
        with unavailable_on_operational_error():
            connection.commit()

    def _current_connection(self) -> Connection:
        if self._connection is None:
            raise RuntimeError("use the unit of work inside `with uow:`")
        return self._connection


def sql_unit_of_work_factory(engine: Engine) -> UnitOfWorkFactory:
    """A UnitOfWorkFactory whose units of work run on `engine`."""

    def factory() -> UnitOfWork:
        return SqlUnitOfWork(engine)

    return factory
