"""Builds the ASGI application that serves every transport on one port."""

from __future__ import annotations

from starlette.applications import Starlette

from sesamedisk.errors import SesameError
from sesamedisk.ports.deps import Deps
from sesamedisk.web import ui
from sesamedisk.web.api import (
    admin,
    api2,
    files,
    history,
    libraries,
    openapi,
    previews,
    seafile_blocks,
    seafile_blocks_upload,
    seafile_web,
    session,
    uploads,
)
from sesamedisk.web.errors import handle_sesame_error, handle_unexpected
from sesamedisk.web.seafhttp import block_reads, raw_blocks, transfer
from sesamedisk.web.seafhttp import routes as seafhttp
from sesamedisk.web.unlocks import UnlockedKeys


def build_app(deps: Deps, *, max_block_bytes: int) -> Starlette:
    """The application: /seafhttp (sync), /api2 (Seafile api), /api/v1 (ours), / (web UI)."""
    app = Starlette(
        routes=[*seafhttp.routes(), *transfer.routes(), *raw_blocks.routes(), *api2.routes(),
                *seafile_blocks_upload.routes(), *seafile_blocks.routes(),
                *block_reads.routes(),
                *seafile_web.routes(), *files.routes(), *libraries.routes(),
                *history.routes(), *uploads.routes(), *previews.routes(),
                *session.routes(), *admin.routes(), *openapi.routes(), *ui.routes()],
        exception_handlers={SesameError: handle_sesame_error, Exception: handle_unexpected},
    )
    app.state.deps = deps
    app.state.max_block_bytes = max_block_bytes
    app.state.unlocked_keys = UnlockedKeys()
    return app
