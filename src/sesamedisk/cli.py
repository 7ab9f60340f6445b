"""The `sesame` command: serve, admin, fsck, migrate, config."""

from __future__ import annotations

import argparse
import ctypes
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from sesamedisk import __version__
from sesamedisk.config import Settings
from sesamedisk.errors import SesameError


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    for name in ("host", "port", "data", "database_url"):
        value = getattr(args, name, None)
        if value is not None:
            overrides[name] = value
    return Settings(**overrides)


def _add_storage_options(parser: argparse.ArgumentParser) -> None:
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


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the HTTP server."""
    import uvicorn

    _tune_malloc()
    from sesamedisk.bootstrap import build_deps, ensure_admin
    from sesamedisk.web.app import build_app

    settings = _settings(args)
    deps = build_deps(settings)
    created = ensure_admin(settings, deps)
    if created is not None:
        print(f"Created admin account {created[0]} with password {created[1]}", flush=True)
    app = build_app(deps, max_block_bytes=settings.max_block_bytes)
    print(f"sesamedisk {__version__} serving {settings.data} on "
          f"http://{settings.host}:{settings.port}", flush=True)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning",
                access_log=False, http="httptools", loop="uvloop", timeout_keep_alive=75)
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
    """Check every library's history; exit 0 only when all is sound."""
    from sesamedisk.bootstrap import build_deps
    from sesamedisk.services.fsck import fsck

    report = fsck(build_deps(_settings(args), recover=False))
    for problem in report.problems:
        print(f"PROBLEM {problem}")
    print(f"checked {report.libraries} libraries, {report.commits} commits, "
          f"{report.fs_objects} fs objects, {report.blocks} blocks: "
          f"{'OK' if report.ok else f'{len(report.problems)} problems'}")
    return 0 if report.ok else 1


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

    check = sub.add_parser("fsck", help="verify every library's history; exit 1 on problems")
    _add_storage_options(check)
    check.set_defaults(func=cmd_fsck)

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
    except (SesameError, ValidationError) as exc:
        message = exc.message if isinstance(exc, SesameError) else str(exc)
        print(f"sesame: error: {message}", file=sys.stderr)
        return 2
    return result


if __name__ == "__main__":
    sys.exit(main())
