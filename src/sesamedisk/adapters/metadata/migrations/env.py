"""Alembic environment: runs migrations on the connection migrate.upgrade() hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from sesamedisk.adapters.metadata.engine import create_engine_for, normalize_database_url
from sesamedisk.adapters.metadata.tables import metadata


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        compare_type=True,
        # SQLite cannot ALTER most things; batch mode rebuilds tables instead.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_offline() -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("offline migrations need the sqlalchemy.url option")
    context.configure(
        url=normalize_database_url(url),
        target_metadata=metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_online() -> None:
    connection = context.config.attributes.get("connection")
    if isinstance(connection, Connection):
        _configure(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("migrations need a connection attribute or sqlalchemy.url option")
    engine = create_engine_for(url)
    try:
        with engine.connect() as own_connection:
            _configure(own_connection)
            own_connection.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    _run_offline()
else:
    _run_online()
