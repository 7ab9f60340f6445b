"""The only place that builds adapters from Settings and bundles them into Deps."""

from __future__ import annotations

import logging
import secrets

from sesamedisk.adapters.metadata.engine import create_engine_for, sqlite_url_for_data_dir
from sesamedisk.adapters.metadata.migrate import upgrade
from sesamedisk.adapters.metadata.sql import sql_unit_of_work_factory
from sesamedisk.adapters.objects.local import LocalObjectStore
from sesamedisk.adapters.objects.verifying import VerifyingObjectStore
from sesamedisk.config import Settings
from sesamedisk.ports.deps import Deps
from sesamedisk.services import accounts

log = logging.getLogger("sesamedisk")
TEMP_FILE_GRACE_SECONDS = 3600
"""Temp files are never visible as objects; this age only keeps another process's writes safe."""


def database_url(settings: Settings) -> str:
    """The metadata database URL: the configured one or SQLite inside the data folder."""
    return settings.database_url or sqlite_url_for_data_dir(settings.data)


def build_deps(settings: Settings, *, recover: bool = True) -> Deps:
    """Open the metadata database (migrating it) and the object store.

    With `recover`, temp files that a killed process left behind an hour or more ago are
    removed; younger ones may belong to another process sharing the data folder.
    """
    settings.data.mkdir(parents=True, exist_ok=True)
    engine = create_engine_for(database_url(settings))
    upgrade(engine)
    local = LocalObjectStore(settings.objects_dir)
    if recover:
        removed = local.sweep_temp(TEMP_FILE_GRACE_SECONDS)
        if removed:
            log.warning("removed %d half-written temp files left by a crash", removed)
    return Deps(uow=sql_unit_of_work_factory(engine), objects=VerifyingObjectStore(local),
                close=engine.dispose)


def ensure_admin(settings: Settings, deps: Deps) -> tuple[str, str] | None:
    """On an empty database create the admin; returns (email, generated password) to print."""
    email = settings.admin_email or "admin@example.com"
    given = settings.admin_password.get_secret_value() if settings.admin_password else None
    password = given or secrets.token_urlsafe(12)
    created = accounts.ensure_first_admin(deps, email=email, password=password)
    if created is None:
        return None
    return email, ("(from SESAMEDISK_ADMIN_PASSWORD)" if given else password)
