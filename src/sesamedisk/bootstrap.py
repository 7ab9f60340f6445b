"""The only place that builds adapters from Settings and bundles them into Deps."""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from sesamedisk.adapters.metadata.engine import create_engine_for, sqlite_url_for_data_dir
from sesamedisk.adapters.metadata.migrate import upgrade
from sesamedisk.adapters.metadata.sql import sql_unit_of_work_factory
from sesamedisk.adapters.metadata.sql_repairs import SqlRepairJournal
from sesamedisk.adapters.objects.local import LocalObjectStore
from sesamedisk.adapters.objects.replicated import NamedBackend, ReplicatedObjectStore
from sesamedisk.adapters.objects.s3 import S3ObjectStore
from sesamedisk.adapters.objects.storage_admin import ReplicatedStoreAdmin, SingleStoreAdmin
from sesamedisk.adapters.objects.verifying import VerifyingObjectStore
from sesamedisk.adapters.previews.cache import FilePreviewCache
from sesamedisk.adapters.previews.office import HiddenPaths
from sesamedisk.adapters.previews.renderer import LocalRenderer
from sesamedisk.adapters.previews.scratch import LocalScratch
from sesamedisk.config import Settings
from sesamedisk.domain.retention import GcPolicy
from sesamedisk.errors import InvalidRequest, LibraryNotFound
from sesamedisk.ports.deps import Deps
from sesamedisk.ports.metadata import UnitOfWorkFactory
from sesamedisk.ports.objects import ObjectStore
from sesamedisk.ports.previews import MIB, Previews
from sesamedisk.ports.storage import StorageAdmin
from sesamedisk.services import accounts
from sesamedisk.storage_config import Backend, LocalBackend, S3Backend

log = logging.getLogger("sesamedisk")
TEMP_FILE_GRACE_SECONDS = 3600
"""Temp files are never visible as objects; this age only keeps another process's writes safe."""
SQLITE_SIBLING_SUFFIXES = ("-wal", "-shm", "-journal")
"""Files SQLite keeps beside a database file while it is open or after a crash."""


def database_url(settings: Settings) -> str:
    """The metadata database URL: the configured one or SQLite inside the data folder."""
    return settings.database_url or sqlite_url_for_data_dir(settings.data)


def _local_store(path: Path, recover: bool) -> LocalObjectStore:
    local = LocalObjectStore(path)
    if recover:
        removed = local.sweep_temp(TEMP_FILE_GRACE_SECONDS)
        if removed:
            log.warning("removed %d half-written temp files in %s left by a crash",
                        removed, path)
    return local


def _s3_store(backend: S3Backend) -> S3ObjectStore:
    if backend.secret_key is not None:
        secret = backend.secret_key.get_secret_value()
    else:
        assert backend.secret_key_env is not None
        secret = os.environ.get(backend.secret_key_env, "")
        if not secret:
            raise InvalidRequest(f"backend {backend.name}: environment variable "
                                 f"{backend.secret_key_env} is not set")
    store = S3ObjectStore(backend.bucket, endpoint_url=backend.endpoint,
                          access_key=backend.access_key, secret_key=secret,
                          region=backend.s3_region, prefix=backend.prefix)
    if backend.create_bucket:
        store.ensure_bucket()
    return store


def local_root(settings: Settings, backend: LocalBackend) -> Path:
    """Where a local backend keeps its objects (a relative path is below the data folder)."""
    return settings.data / backend.path


def _backend_store(settings: Settings, backend: Backend, recover: bool) -> ObjectStore:
    if isinstance(backend, LocalBackend):
        return _local_store(local_root(settings, backend), recover)
    return _s3_store(backend)


def library_regions(uow: UnitOfWorkFactory) -> Callable[[str], frozenset[str] | None]:
    """Where a library's bytes may go, from its row; unknown libraries get no placement."""

    def regions_for(library_id: str) -> frozenset[str] | None:
        with uow() as unit:
            library = unit.libraries.get(library_id, include_deleted=True)
        if library is None:
            raise LibraryNotFound(f"no library {library_id}: its objects have no placement")
        return library.regions

    return regions_for


def build_object_store(settings: Settings, engine: Engine, uow: UnitOfWorkFactory, *,
                       recover: bool) -> tuple[ObjectStore, StorageAdmin, Callable[[], None]]:
    """The object store the config describes, its admin, and what closes it.

    No backends configured: one local copy in --data, verified on every read.
    """
    storage = settings.storage
    if not storage.backends:
        local = _local_store(settings.objects_dir, recover)
        return VerifyingObjectStore(local), SingleStoreAdmin(local), lambda: None
    named = [NamedBackend(b.name, b.region, _backend_store(settings, b, recover))
             for b in storage.backends]
    replicated = ReplicatedObjectStore(
        named, write_quorum=storage.quorum, copies=storage.target_copies,
        regions_for=library_regions(uow), journal=SqlRepairJournal(engine))
    kinds = {b.name: b.type for b in storage.backends}
    return replicated, ReplicatedStoreAdmin(replicated, named, kinds), replicated.close


def build_deps(settings: Settings, *, recover: bool = True) -> Deps:
    """Open the metadata database (migrating it) and the object store.

    With `recover`, temp files that a killed process left behind an hour or more ago are
    removed; younger ones may belong to another process sharing the data folder.
    """
    settings.data.mkdir(parents=True, exist_ok=True)
    engine = create_engine_for(database_url(settings))
    upgrade(engine)
    uow = sql_unit_of_work_factory(engine)
    objects, admin, close_objects = build_object_store(settings, engine, uow, recover=recover)
    default_regions = settings.storage.default_regions
    if default_regions is not None:
        admin.check_regions(frozenset(default_regions))

    def close() -> None:
        close_objects()
        engine.dispose()

    return Deps(uow=uow, objects=objects, close=close, storage=admin,
                default_regions=None if default_regions is None else frozenset(default_regions),
                gc_policy=gc_policy(settings), previews=build_previews(settings))


def build_previews(settings: Settings) -> Previews:
    """Previews rendered locally, cached in <data>/preview-cache, scratch in <data>/preview-tmp.

    Office conversions see none of `conversion_hidden_paths` beyond their scratch folder.
    """
    data, config = settings.data, settings.previews
    renderer = LocalRenderer(config.office_network_isolation,
                             hidden=conversion_hidden_paths(settings))
    cache = FilePreviewCache(data / "preview-cache", max_bytes=config.cache_max_mb * MIB)
    return Previews(renderer=renderer, cache=cache,
                    scratch=LocalScratch(data / "preview-tmp", TEMP_FILE_GRACE_SECONDS))


def conversion_hidden_paths(settings: Settings) -> HiddenPaths:
    """What office conversions must not see (docs/previews.md, LibreOffice sandbox).

    Folders: the data folder and every local backend's root. Files: the config file and an
    SQLite database file with its -wal, -shm and -journal files.
    """
    roots = [local_root(settings, backend) for backend in settings.storage.backends
             if isinstance(backend, LocalBackend)]
    files = [] if settings.config_file is None else [settings.config_file]
    database = sqlite_database_file(database_url(settings))
    if database is not None:
        files += [database, *(database.with_name(database.name + suffix)
                              for suffix in SQLITE_SIBLING_SUFFIXES)]
    return HiddenPaths(folders=(settings.data, *roots), files=tuple(files))


def sqlite_database_file(url: str) -> Path | None:
    """The real path of an SQLite database URL's file; None for other databases.

    Symlinks are resolved as SQLite does (its -wal file is named after the real path);
    `file:` URIs count, in-memory databases are None.
    """
    parsed = make_url(url)
    name = parsed.database
    if parsed.get_backend_name() != "sqlite" or not name or name == ":memory:":
        return None
    return Path(name.removeprefix("file:")).resolve()


def gc_policy(settings: Settings) -> GcPolicy:
    """The garbage-collection policy of the [gc] config section."""
    days, hours = 86_400, 3_600
    history = settings.gc.history_days
    return GcPolicy(history_seconds=None if history is None else int(history * days),
                    trash_seconds=int(settings.gc.trash_days * days),
                    grace_seconds=int(settings.gc.grace_hours * hours),
                    upload_expiry_seconds=int(settings.gc.upload_expiry_days * days))


def ensure_admin(settings: Settings, deps: Deps) -> tuple[str, str] | None:
    """On an empty database create the admin; returns (email, generated password) to print."""
    email = settings.admin_email or "admin@example.com"
    given = settings.admin_password.get_secret_value() if settings.admin_password else None
    password = given or secrets.token_urlsafe(12)
    created = accounts.ensure_first_admin(deps, email=email, password=password)
    if created is None:
        return None
    return email, ("(from SESAMEDISK_ADMIN_PASSWORD)" if given else password)
