"""The browser UI: static files and the single page served at /.

- GET / -> the page (text/html) under a strict Content-Security-Policy: scripts, styles and
  images come from this origin only, nothing inline, no frames, no plug-ins. The page says in
  `<meta name="sesame-session">` whether the request carried a valid session, so the script
  knows without a failing request.
- GET /static/<file> -> app.css, favicon.svg and the ES modules under js/.
"""

from __future__ import annotations

import html
from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from sesamedisk.errors import Unauthenticated
from sesamedisk.ports.deps import Deps
from sesamedisk.services import accounts
from sesamedisk.web.auth import SESSION_COOKIE

STATIC_DIR = Path(__file__).resolve().parent / "static"
SESSION_MARK = "{{session}}"

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; frame-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cache-control": "no-store",
}


class _StaticFiles(StaticFiles):
    """Static files that browsers must not sniff and must revalidate (no build step hashes)."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        """The file's response with nosniff and no-cache headers."""
        response = await super().get_response(path, scope)
        response.headers["x-content-type-options"] = "nosniff"
        response.headers["cache-control"] = "no-cache"
        return response


async def _session_email(request: Request) -> str:
    """The email of the cookie's user, or "" when there is no valid session."""
    token = request.cookies.get(SESSION_COOKIE, "")
    if not token:
        return ""
    deps: Deps = request.app.state.deps
    try:
        user = await run_in_threadpool(accounts.authenticate, deps, token)
    except Unauthenticated:
        return ""
    return user.email


async def index(request: Request) -> Response:
    """GET /: the single page of the web UI."""
    page = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    email = html.escape(await _session_email(request), quote=True)
    return HTMLResponse(page.replace(SESSION_MARK, email), headers=SECURITY_HEADERS)


def routes() -> list[BaseRoute]:
    """Every route of this module."""
    return [
        Route("/", index, methods=["GET", "HEAD"]),
        Mount("/static", app=_StaticFiles(directory=STATIC_DIR), name="static"),
    ]
