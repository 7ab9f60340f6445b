"""Database fixtures: metadata tests run on SQLite and on a throwaway PostgreSQL database."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from sesamedisk.adapters.metadata.engine import (
    create_engine_for,
    normalize_database_url,
    sqlite_url_for_data_dir,
)
from sesamedisk.adapters.metadata.migrate import upgrade
from sesamedisk.adapters.metadata.sql import SqlUnitOfWork
from tests.plugins.peers import require_peer

DATABASES = ("sqlite", "postgres")
DATABASES_ENV = "SESAMEDISK_TEST_DATABASES"
POSTGRES_ENV = "SESAMEDISK_TEST_POSTGRES_URL"
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def _selected_databases() -> tuple[str, ...]:
    raw = os.environ.get(DATABASES_ENV)
    if raw is None:
        return DATABASES
    names = tuple(name.strip().lower() for name in raw.split(",") if name.strip())
    unknown = sorted(set(names) - set(DATABASES))
    if unknown:
        raise pytest.UsageError(
            f"{DATABASES_ENV}={raw!r} names unknown databases {unknown}; choose from {DATABASES}"
        )
    return names


def _postgres_admin_url() -> str:
    return normalize_database_url(os.environ.get(POSTGRES_ENV, DEFAULT_POSTGRES_URL))


@pytest.fixture(scope="session")
def postgres_admin_engine() -> Iterator[Engine]:
    """An AUTOCOMMIT engine on the PostgreSQL server tests create their databases on."""
    url = _postgres_admin_url()
    engine = create_engine(
        url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5},
        pool_pre_ping=True,
    )
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except OperationalError as error:
        engine.dispose()
        shown = make_url(url).render_as_string(hide_password=True)
        require_peer(False, f"PostgreSQL at {shown} ({error.orig})")
    yield engine
    engine.dispose()


def _drop_database(admin: Engine, name: str) -> None:
    with admin.connect() as connection:
        connection.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = :name AND pid <> pg_backend_pid()"
            ),
            {"name": name},
        )
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=[
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty metadata database: a SQLite file, or a fresh PostgreSQL database."""
    kind: str = request.param
    if kind not in _selected_databases():
        pytest.skip(f"{kind} excluded by {DATABASES_ENV}={os.environ.get(DATABASES_ENV)!r}")
    if kind == "sqlite":
        yield sqlite_url_for_data_dir(tmp_path / "data")
        return
    admin: Engine = request.getfixturevalue("postgres_admin_engine")
    name = f"sesamedisk_test_{uuid.uuid4().hex[:20]}"
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        _drop_database(admin, name)


@pytest.fixture
def uow_factory(database_url: str) -> Iterator[Callable[[], SqlUnitOfWork]]:
    """A migrated database; returns a zero-argument SqlUnitOfWork factory."""
    engine = create_engine_for(database_url)
    upgrade(engine)
    yield lambda: SqlUnitOfWork(engine)
    engine.dispose()
