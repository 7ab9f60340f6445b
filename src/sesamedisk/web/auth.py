"""Authenticating requests: `Authorization: Token <t>` (clients) or the web UI's session cookie."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from sesamedisk.domain.records import User
from sesamedisk.errors import PermissionDenied, Unauthenticated
from sesamedisk.ports.deps import Deps
from sesamedisk.services import accounts

SESSION_COOKIE = "sesame_session"
"""HttpOnly, SameSite=Strict cookie holding the web UI's api token."""

CSRF_HEADER = "x-sesame-request"
"""Header every state-changing cookie-authenticated request must carry (value "1").

A cross-site form cannot set it, and a cross-site script cannot send it without a CORS
preflight, which this server never grants; together with SameSite=Strict it stops CSRF.
"""

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def bearer_token(request: Request) -> str:
    """The token of an `Authorization: Token <t>` (or `Bearer <t>`) header."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() not in ("token", "bearer") or not token.strip():
        raise Unauthenticated("missing Authorization: Token header")
    return token.strip()


def request_token(request: Request) -> str:
    """The api token of the request: the Authorization header, else the session cookie.

    A cookie-authenticated request that changes state must carry `X-Sesame-Request: 1`.
    """
    if request.headers.get("authorization"):
        return bearer_token(request)
    token = request.cookies.get(SESSION_COOKIE, "")
    if not token:
        raise Unauthenticated("log in first (no Authorization header and no session)")
    if request.method not in SAFE_METHODS and request.headers.get(CSRF_HEADER) != "1":
        raise PermissionDenied(f"a session request that changes data needs {CSRF_HEADER}: 1")
    return token


async def current_user(request: Request) -> User:
    """The user behind the request's api token or session; Unauthenticated otherwise."""
    deps: Deps = request.app.state.deps
    return await run_in_threadpool(accounts.authenticate, deps, request_token(request))
