"""Web UI session: log in, log out, who am I (cookie-based).

- POST /api/v1/auth/login {"email", "password"} (header `X-Sesame-Request: 1`) -> 200
  {"email", "is_admin"} and Set-Cookie `sesame_session` (HttpOnly, SameSite=Strict, Path=/,
  Secure over https); wrong credentials -> 401 with a generic message.
- POST /api/v1/auth/logout -> 204: revokes the session's token, forgets the libraries it
  unlocked and clears the cookie.
- GET /api/v1/auth/me -> {"email", "is_admin"} | 401.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from sesamedisk.domain.records import User
from sesamedisk.errors import InvalidRequest, PermissionDenied
from sesamedisk.services import accounts
from sesamedisk.web.auth import CSRF_HEADER, SESSION_COOKIE, current_user, request_token
from sesamedisk.web.requests import deps_of, read_json
from sesamedisk.web.unlocks import unlocked_keys

LOGIN_BODY_LIMIT = 16 * 1024


def _user_json(user: User) -> dict[str, Any]:
    return {"email": user.email, "is_admin": user.is_admin}


def _credentials(body: Any) -> tuple[str, str]:
    if not isinstance(body, dict) or not isinstance(body.get("email"), str) \
            or not isinstance(body.get("password"), str):
        raise InvalidRequest('body must be {"email": str, "password": str}')
    return body["email"], body["password"]


async def login(request: Request) -> Response:
    """POST /api/v1/auth/login: check credentials, start a cookie session."""
    if request.headers.get(CSRF_HEADER) != "1":  # no login CSRF from a cross-site form
        raise PermissionDenied(f"logging in needs the header {CSRF_HEADER}: 1")
    email, password = _credentials(await read_json(request, LOGIN_BODY_LIMIT))
    deps = deps_of(request)
    token = await run_in_threadpool(lambda: accounts.login(
        deps, email=email, password=password, device_name="web", platform="web"))
    user = await run_in_threadpool(accounts.authenticate, deps, token)
    response = JSONResponse(_user_json(user))
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="strict", path="/",
                        secure=request.url.scheme == "https")
    return response


async def logout(request: Request) -> Response:
    """POST /api/v1/auth/logout: revoke the session token and clear the cookie."""
    token = request_token(request)
    await run_in_threadpool(accounts.logout, deps_of(request), token)
    unlocked_keys(request).forget_token(token)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict",
                           secure=request.url.scheme == "https")
    return response


async def me(request: Request) -> Response:
    """GET /api/v1/auth/me: the logged-in user."""
    return JSONResponse(_user_json(await current_user(request)))


def routes() -> list[BaseRoute]:
    """Every route of this module."""
    return [
        Route("/api/v1/auth/login", login, methods=["POST"]),
        Route("/api/v1/auth/logout", logout, methods=["POST"]),
        Route("/api/v1/auth/me", me, methods=["GET"]),
    ]
