"""The `sesame` command: serve, admin, fsck, scrub, migrate, config."""

from __future__ import annotations

import argparse
import ctypes
import json
import logging
import os
import sys
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from sesamedisk import __version__
from sesamedisk.config import Settings, load_settings
from sesamedisk.errors import SesameError

if TYPE_CHECKING:
    from sesamedisk.services.gc import GcReport


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    for name in ("host", "port", "data", "database_url"):
        value = getattr(args, name, None)
        if value is not None:
            overrides[name] = value
    return load_settings(getattr(args, "config", None), **overrides)


def _add_storage_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, default=None,
                        help="TOML config file (backends, copies, quorum, scrub, gc; "
                             "see docs/configuration.md)")
    parser.add_argument("--data", type=Path, default=None,
                        help="data folder (default ./sesame-data, env SESAMEDISK_DATA)")
    parser.add_argument("--database-url", default=None,
                        help="metadata database URL, e.g. postgresql://user@host/db "
                             "(default SQLite in the data folder; env SESAMEDISK_DATABASE_URL)")


def _tune_malloc() -> None:
    """Let glibc reuse freed multi-MiB buffers instead of mapping fresh pages per block.

    Blocks are up to 10 MiB; above glibc's default 128 KiB mmap threshold every block
    buffer is a new mapping whose pages fault in one by one, which costs more than the
    hashing on the VMs we measured (docs/adr/0002). The heap keeps at most 128 MiB spare.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    libc.mallopt(m_mmap_threshold, 32 * 1024 * 1024)
    libc.mallopt(m_trim_threshold, 128 * 1024 * 1024)


def _log_gc(report: GcReport) -> None:
    logging.getLogger("sesamedisk.gc").info(
        "gc freed %d objects, %d bytes; %d errors", report.objects, report.bytes,
        len(report.errors))


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the HTTP server and its background maintenance (repairs, scrub)."""
    import uvicorn

    _tune_malloc()
    from sesamedisk.bootstrap import build_deps, ensure_admin
    from sesamedisk.maintenance import SCRUB_MARKER, start_maintenance
    from sesamedisk.services.gc import collect_garbage
    from sesamedisk.services.storage import storage_admin
    from sesamedisk.web.app import build_app

    settings = _settings(args)
    deps = build_deps(settings)
    created = ensure_admin(settings, deps)
    if created is not None:
        print(f"Created admin account {created[0]} with password {created[1]}", flush=True)
    app = build_app(deps, max_block_bytes=settings.max_block_bytes)
    storage = storage_admin(deps)
    print(f"sesamedisk {__version__} serving {settings.data} on "
          f"http://{settings.host}:{settings.port}; storage: {storage.status().mode}",
          flush=True)
    maintenance = start_maintenance(storage, settings.scrub,
                                    scrub_marker=settings.data / SCRUB_MARKER)
    if settings.gc.interval_hours > 0:
        maintenance.every(settings.gc.interval_hours * 3600, "gc",
                          lambda: _log_gc(collect_garbage(deps, deps.gc_policy)))
    try:
        uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning",
                    access_log=False, http="httptools", loop="uvloop", timeout_keep_alive=75)
    finally:
        maintenance.stop()
        deps.close()
    return 0


def cmd_create_user(args: argparse.Namespace) -> int:
    """Create a user account."""
    from sesamedisk.bootstrap import build_deps
    from sesamedisk.services import accounts

    deps = build_deps(_settings(args), recover=False)
    user = accounts.create_user(deps, None, email=args.email, password=args.password,
                                is_admin=args.admin)
    print(f"created {'admin' if user.is_admin else 'user'} {user.email}")
    return 0


def cmd_fsck(args: argparse.Namespace) -> int:
    """Check every stored copy and every library's history; exit 0 only when all is sound."""
    from sesamedisk.bootstrap import build_deps
    from sesamedisk.services.fsck import fsck

    deps = build_deps(_settings(args), recover=False)
    try:
        report = fsck(deps, repair=args.repair)
    finally:
        deps.close()
    for problem in report.problems:
        print(f"PROBLEM {problem}")
    if args.repair:
        print(f"repaired {report.repaired} copies")
    if report.garbage_copies:
        print(f"note: {report.garbage_copies} missing or bad copies of unreferenced objects "
              "(left by interrupted writes or collected versions; `sesame gc` removes them)")
    print(f"checked {report.libraries} libraries, {report.commits} commits, "
          f"{report.fs_objects} fs objects, {report.blocks} blocks, {report.copies} copies: "
          f"{'OK' if report.ok else f'{len(report.problems)} problems'}")
    return 0 if report.ok else 1


def cmd_scrub(args: argparse.Namespace) -> int:
    """Re-read and verify every copy once (repairing); exit 0 only when all copies are good."""
    from sesamedisk.bootstrap import build_deps
    from sesamedisk.services.storage import copies_good, scrub_once, scrub_summary

    settings = _settings(args)
    rate = settings.scrub.max_mb_per_second if args.rate is None else args.rate
    deps = build_deps(settings, recover=False)
    try:
        report = scrub_once(deps, repair=not args.no_repair,
                            max_bytes_per_second=rate * 1_000_000 if rate > 0 else None)
    finally:
        deps.close()
    for problem in report.problems:
        print(f"PROBLEM {problem}")
    print(f"scrub: {scrub_summary(report)}")
    return 0 if copies_good(report) else 1


def cmd_gc(args: argparse.Namespace) -> int:
    """Collect garbage (or report what could be); exit 1 when a library could not be done."""
    from sesamedisk.bootstrap import build_deps
    from sesamedisk.services.gc import collect_garbage

    deps = build_deps(_settings(args), recover=False)
    try:
        report = collect_garbage(deps, deps.gc_policy, dry_run=args.dry_run)
    finally:
        deps.close()
    verb = "reclaimable" if args.dry_run else "freed"
    for item in report.libraries:
        what = "purge" if item.purged else "library"
        print(f"{what} {item.library_id} ({item.name}): {item.objects} objects, "
              f"{item.bytes} bytes {verb}" + (f"; ERROR {item.error}" if item.error else ""))
    print(f"gc{' (dry run)' if args.dry_run else ''}: {report.objects} objects, "
          f"{report.bytes} bytes {verb} (one copy each)")
    return 1 if report.errors else 0


def cmd_migrate(args: argparse.Namespace) -> int:
    """Create or upgrade the metadata database schema."""
    from sesamedisk.bootstrap import build_deps

    build_deps(_settings(args), recover=False)
    print("metadata database is up to date")
    return 0


def cmd_config_show(args: argparse.Namespace) -> int:
    """Print the effective settings with secrets redacted."""
    print(json.dumps(_settings(args).redacted(), indent=2, default=str))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every sub-command."""
    parser = argparse.ArgumentParser(
        prog="sesame", description="sesamedisk: a self-hosted drive that Seafile clients sync with")
    parser.add_argument("--version", action="version", version=f"sesamedisk {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the server (API, sync protocol) on one port")
    serve.add_argument("--host", default=None, help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port to bind (default 8000)")
    _add_storage_options(serve)
    serve.set_defaults(func=cmd_serve)

    admin = sub.add_parser("admin", help="administration commands")
    admin_sub = admin.add_subparsers(dest="admin_command", required=True)
    create = admin_sub.add_parser("create-user", help="create a user account")
    create.add_argument("email")
    create.add_argument("--password", required=True, help="the new user's password")
    create.add_argument("--admin", action="store_true", help="make the user an admin")
    _add_storage_options(create)
    create.set_defaults(func=cmd_create_user)

    check = sub.add_parser("fsck", help="verify every copy and every library's history; "
                                        "exit 1 on problems")
    check.add_argument("--repair", action="store_true",
                       help="first restore missing or corrupt copies from good ones")
    _add_storage_options(check)
    check.set_defaults(func=cmd_fsck)

    scrub = sub.add_parser("scrub", help="re-read and verify every copy once, repairing from "
                                         "good copies; exit 1 unless all copies are good")
    scrub.add_argument("--rate", type=float, default=None, metavar="MBPS",
                       help="read at most this many MB/s (default [scrub] max_mb_per_second; "
                            "0: unlimited)")
    scrub.add_argument("--no-repair", action="store_true",
                       help="only report missing or corrupt copies, change nothing")
    _add_storage_options(scrub)
    scrub.set_defaults(func=cmd_scrub)

    collect = sub.add_parser("gc", help="delete objects that no kept version needs and purge "
                                        "expired trash ([gc] policy of the config)")
    collect.add_argument("--dry-run", action="store_true",
                         help="only report reclaimable bytes per library")
    _add_storage_options(collect)
    collect.set_defaults(func=cmd_gc)

    migrate = sub.add_parser("migrate", help="create or upgrade the metadata schema")
    _add_storage_options(migrate)
    migrate.set_defaults(func=cmd_migrate)

    config = sub.add_parser("config", help="configuration commands")
    config_sub = config.add_subparsers(dest="config_command", required=True)
    show = config_sub.add_parser("show", help="print the effective settings, secrets hidden")
    _add_storage_options(show)
    show.set_defaults(func=cmd_config_show)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `sesame` console script."""
    logging.basicConfig(level=os.environ.get("SESAMEDISK_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        result: int = args.func(args)
    except (SesameError, ValidationError, FileNotFoundError, tomllib.TOMLDecodeError) as exc:
        message = exc.message if isinstance(exc, SesameError) else str(exc)
        print(f"sesame: error: {message}", file=sys.stderr)
        return 2
    return result


if __name__ == "__main__":
    sys.exit(main())
