"""Builds the ASGI application that serves every transport on one port."""

from __future__ import annotations

from starlette.applications import Starlette

from sesamedisk.errors import SesameError
from sesamedisk.ports.deps import Deps
from sesamedisk.web.api import admin, api2, files
from sesamedisk.web.errors import handle_sesame_error, handle_unexpected
from sesamedisk.web.seafhttp import routes as seafhttp


def build_app(deps: Deps, *, max_block_bytes: int) -> Starlette:
    """The application: /seafhttp (sync protocol), /api2 (Seafile api), /api/v1 (ours)."""
    app = Starlette(
        routes=[*seafhttp.routes(), *api2.routes(), *files.routes(), *admin.routes()],
        exception_handlers={SesameError: handle_sesame_error, Exception: handle_unexpected},
    )
    app.state.deps = deps
    app.state.max_block_bytes = max_block_bytes
    return app
