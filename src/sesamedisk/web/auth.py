"""Authenticating api requests by `Authorization: Token <t>`."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from sesamedisk.domain.records import User
from sesamedisk.errors import Unauthenticated
from sesamedisk.ports.deps import Deps
from sesamedisk.services import accounts


def bearer_token(request: Request) -> str:
    """The token of an `Authorization: Token <t>` (or `Bearer <t>`) header."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() not in ("token", "bearer") or not token.strip():
        raise Unauthenticated("missing Authorization: Token header")
    return token.strip()


async def current_user(request: Request) -> User:
    """The user behind the request's api token; Unauthenticated otherwise."""
    deps: Deps = request.app.state.deps
    return await run_in_threadpool(accounts.authenticate, deps, bearer_token(request))
