"""Engines for the metadata database: SQLite (single node) or PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection, make_url

SQLITE_FILE_NAME = "metadata.sqlite3"
SQLITE_BUSY_TIMEOUT_MS = 30_000
"""How long a SQLite writer waits for another writer's lock before failing."""
POSTGRES_CONNECT_TIMEOUT_S = 10

_POSTGRES_ALIASES = frozenset({"postgres", "postgresql", "postgresql+psycopg"})


def sqlite_url_for_data_dir(data_dir: Path) -> str:
    """The URL of the SQLite metadata database kept in `data_dir`."""
    path = (data_dir / SQLITE_FILE_NAME).resolve()
    return URL.create("sqlite", database=str(path)).render_as_string(hide_password=False)


def normalize_database_url(url: str) -> str:
    """`url` with the driver sesamedisk uses: postgresql:// becomes postgresql+psycopg://.

    Raises ValueError for backends or drivers other than SQLite (pysqlite) and psycopg 3.
    """
    parsed = make_url(url)
    if parsed.drivername in _POSTGRES_ALIASES:
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif parsed.drivername not in ("sqlite", "sqlite+pysqlite"):
        raise ValueError(
            f"unsupported metadata database {parsed.drivername!r}: "
            "use sqlite:///path or postgresql://user@host/db"
        )
    return parsed.render_as_string(hide_password=False)


def create_engine_for(url: str) -> Engine:
    """An engine for the metadata database at `url`, configured for safe concurrent use.

    SQLite: the parent directory is created; every connection uses WAL, enforces foreign
    keys, waits up to 30 s for locks and runs with synchronous=FULL (in WAL mode NORMAL
    cannot corrupt the file, but may lose the last commits on power loss; FULL makes each
    committed head advance durable before the client is told it succeeded). Every
    transaction starts with BEGIN IMMEDIATE, which takes the write lock up front: a
    transaction that reads and then writes (read head, then compare-and-swap it) can then
    never fail with "database is locked" when upgrading its read snapshot to a write. The
    cost is that transactions on SQLite are serialised (WAL readers outside this engine,
    e.g. backups, are not blocked).

    PostgreSQL: postgresql:// is served by psycopg 3; pooled connections are pinged
    before use so a restarted server does not surface as an error; connecting gives up
    after 10 s unless the URL sets connect_timeout.
    """
    normalized = normalize_database_url(url)
    parsed = make_url(normalized)
    if parsed.get_backend_name() == "sqlite":
        return _create_sqlite_engine(parsed)
    connect_args: dict[str, Any] = {}
    if "connect_timeout" not in parsed.query:
        connect_args["connect_timeout"] = POSTGRES_CONNECT_TIMEOUT_S
    if "application_name" not in parsed.query:
        connect_args["application_name"] = "sesamedisk"
    return create_engine(parsed, pool_pre_ping=True, connect_args=connect_args)


def _create_sqlite_engine(url: URL) -> Engine:
    database = url.database or ""
    in_memory = database in ("", ":memory:") or url.query.get("mode") == "memory"
    if not in_memory and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module (its implicit BEGIN is
        # emitted lazily and DEFERRED); the "begin" hook below emits our own BEGIN.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            # busy_timeout first: switching to WAL needs a lock other connections may hold.
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS:d}")
            if not in_memory:
                cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = FULL")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine
