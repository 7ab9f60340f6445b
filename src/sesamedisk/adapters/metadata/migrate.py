"""Schema migrations: run Alembic "upgrade head" from code, no alembic.ini needed."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

from sesamedisk.adapters.metadata.engine import create_engine_for

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
"""Alembic's script location, shipped inside the package."""

_PG_MIGRATION_LOCK = 0x5E5A_3EC0_0001
"""pg_advisory_xact_lock key: concurrent upgrades on PostgreSQL run one after the other."""


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config for sesamedisk's migrations, optionally bound to `connection`."""
    config = Config()
    # ConfigParser interpolates "%", so a path containing one must escape it.
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision the shipped migrations define."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


def upgrade(engine_or_url: Engine | str, revision: str = "head") -> None:
    """Migrate the database to `revision` (default: the newest) in one transaction.

    Idempotent; safe to run from several processes at once (SQLite's BEGIN IMMEDIATE and
    a PostgreSQL advisory lock serialise them).
    """
    if isinstance(engine_or_url, str):
        engine = create_engine_for(engine_or_url)
        try:
            _upgrade(engine, revision)
        finally:
            engine.dispose()
    else:
        _upgrade(engine_or_url, revision)


def _upgrade(engine: Engine, revision: str) -> None:
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK}
            )
        command.upgrade(alembic_config(connection), revision)


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None when it was never migrated."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
