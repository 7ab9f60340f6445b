"""Libraries over our JSON API: list, create, rename, delete, unlock.

A library is {"id", "name", "encrypted", "owner", "permission", "mtime", "head", "unlocked"}
("unlocked": false only for an encrypted library this session has not unlocked).

- GET /api/v1/repos -> [library]
- POST /api/v1/repos {"name", "password"?} -> 201 library (a password makes it encrypted)
- PATCH /api/v1/repos/{id} {"name"} -> library (owner only)
- DELETE /api/v1/repos/{id} -> 204 (owner only)
- POST /api/v1/repos/{id}/unlock {"password"} -> 204; 400 for a wrong password. The key is
  kept in memory for this session (api token) only.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from sesamedisk.domain.records import Library
from sesamedisk.errors import InvalidRequest
from sesamedisk.services import libraries
from sesamedisk.web.auth import current_user, request_token
from sesamedisk.web.requests import deps_of, read_json
from sesamedisk.web.unlocks import remember_key, unlocked_keys

BODY_LIMIT = 64 * 1024


def _library_json(request: Request, library: Library, owner: str,
                  permission: str) -> dict[str, Any]:
    unlocked = not library.encrypted or unlocked_keys(request).get(
        request_token(request), library.id) is not None
    return {"id": library.id, "name": library.name, "encrypted": library.encrypted,
            "owner": owner, "permission": permission, "mtime": library.updated_at,
            "head": library.head, "unlocked": unlocked}


def _string_field(body: Any, name: str, *, optional: bool = False) -> str | None:
    if not isinstance(body, dict):
        raise InvalidRequest("request body must be a JSON object")
    value = body.get(name)
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise InvalidRequest(f'"{name}" must be a string')
    return value


async def list_repos(request: Request) -> Response:
    """GET /api/v1/repos: the caller's libraries."""
    user = await current_user(request)
    views = await run_in_threadpool(libraries.list_libraries, deps_of(request), user)
    return JSONResponse([_library_json(request, v.library, v.owner_email, v.permission.value)
                         for v in views])


async def create_repo(request: Request) -> Response:
    """POST /api/v1/repos: create a plain or (with "password") encrypted library."""
    user = await current_user(request)
    body = await read_json(request, BODY_LIMIT)
    name = _string_field(body, "name") or ""
    password = _string_field(body, "password", optional=True)
    library = await run_in_threadpool(lambda: libraries.create_library(
        deps_of(request), user, name=name, password=password or None))
    return JSONResponse(_library_json(request, library, user.email, "rw"), status_code=201)


async def rename_repo(request: Request) -> Response:
    """PATCH /api/v1/repos/{id}: rename a library."""
    user = await current_user(request)
    name = _string_field(await read_json(request, BODY_LIMIT), "name") or ""
    library = await run_in_threadpool(libraries.rename_library, deps_of(request), user,
                                      request.path_params["repo_id"], name)
    return JSONResponse(_library_json(request, library, user.email, "rw"))


async def delete_repo(request: Request) -> Response:
    """DELETE /api/v1/repos/{id}: delete a library."""
    user = await current_user(request)
    await run_in_threadpool(libraries.delete_library, deps_of(request), user,
                            request.path_params["repo_id"])
    return Response(status_code=204)


async def unlock_repo(request: Request) -> Response:
    """POST /api/v1/repos/{id}/unlock: unlock an encrypted library for this session."""
    user = await current_user(request)
    password = _string_field(await read_json(request, BODY_LIMIT), "password") or ""
    library_id = request.path_params["repo_id"]
    key = await run_in_threadpool(libraries.unlock_library, deps_of(request), user,
                                  library_id, password)
    remember_key(request, library_id, key)
    return Response(status_code=204)


def routes() -> list[BaseRoute]:
    """Every route of this module."""
    repo = "/api/v1/repos/{repo_id}"
    return [
        Route("/api/v1/repos", list_repos, methods=["GET"]),
        Route("/api/v1/repos", create_repo, methods=["POST"]),
        Route(repo, rename_repo, methods=["PATCH"]),
        Route(repo, delete_repo, methods=["DELETE"]),
        Route(f"{repo}/unlock", unlock_repo, methods=["POST"]),
    ]
