"""Shared plumbing of the SQL repositories: error translation, savepointed inserts."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal

from sqlalchemy import Connection, CursorResult, Executable
from sqlalchemy.engine import Row
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from sesamedisk import errors

Rows = CursorResult[*tuple[Any, ...]]
AnyRow = Row[*tuple[Any, ...]]

_SQLITE_UNIQUE = frozenset({"SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"})
_PG_UNIQUE_VIOLATION = "23505"
_PG_FOREIGN_KEY_VIOLATION = "23503"


def token_hash(token: str) -> str:
    """Hex SHA-256 of a token: what the database stores instead of the token.

    Tokens are long random strings, so an unsalted fast hash is enough to make a leaked
    database useless for authentication while keeping lookups a primary-key read.
    """
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def constraint_kind(error: IntegrityError) -> Literal["unique", "foreign_key", "other"]:
    """Which kind of constraint an IntegrityError violated, from the driver's error codes."""
    orig = error.orig
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate == _PG_UNIQUE_VIOLATION:
        return "unique"
    if sqlstate == _PG_FOREIGN_KEY_VIOLATION:
        return "foreign_key"
    name = getattr(orig, "sqlite_errorname", None)
    if name in _SQLITE_UNIQUE:
        return "unique"
    if name == "SQLITE_CONSTRAINT_FOREIGNKEY":
        return "foreign_key"
    return "other"


@contextmanager
def unavailable_on_operational_error() -> Iterator[None]:
    """Turn lost connections, lock timeouts, deadlocks into errors.Unavailable."""
    try:
        yield
    except OperationalError as error:
        raise errors.Unavailable(f"metadata database unavailable: {error.orig}") from error
    except DBAPIError as error:
        if error.connection_invalidated:
            raise errors.Unavailable(f"metadata database connection lost: {error.orig}") from error
        raise


class Executor:
    """Runs the repositories' statements on the unit of work's current connection."""

    def __init__(self, connection: Callable[[], Connection]) -> None:
        self._connection = connection

    def execute(self, statement: Executable, parameters: dict[str, Any] | None = None) -> Rows:
        """Execute one statement inside the unit of work's transaction."""
        connection = self._connection()
        with unavailable_on_operational_error():
            return connection.execute(statement, parameters)

    def insert(
        self, statement: Executable, *, exists: errors.SesameError, missing: errors.SesameError
    ) -> Sequence[AnyRow]:
        """Execute an INSERT in a savepoint and return its RETURNING rows, if any.

        Unique violations raise `exists`, foreign-key violations `missing`; the transaction
        stays usable after either (only the savepoint is rolled back).
        """
        connection = self._connection()
        with unavailable_on_operational_error():
            savepoint = connection.begin_nested()
            try:
                result = connection.execute(statement)
                # Drain RETURNING rows first: SQLite cannot release a savepoint while a
                # statement is still stepping.
                rows = result.all() if result.returns_rows else []
            except IntegrityError as error:
                savepoint.rollback()
                kind = constraint_kind(error)
                if kind == "unique":
                    raise exists from error
                if kind == "foreign_key":
                    raise missing from error
                raise
            except BaseException:
                savepoint.rollback()
                raise
            savepoint.commit()
            return rows
