"""Seafile api2 endpoints used by seaf-cli and the desktop clients (spec section 4)."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

import sesamedisk
from sesamedisk.domain.records import Library, User
from sesamedisk.errors import InvalidRequest, SesameError
from sesamedisk.services import accounts, libraries
from sesamedisk.web.auth import bearer_token, current_user
from sesamedisk.web.requests import deps_of, form_text, read_small_form


async def ping(request: Request) -> Response:
    """GET /api2/ping/: liveness."""
    return JSONResponse("pong")


async def auth_ping(request: Request) -> Response:
    """GET /api2/auth/ping/: token check."""
    await current_user(request)
    return JSONResponse("pong")


async def server_info(request: Request) -> Response:
    """GET /api2/server-info/: version and features."""
    return JSONResponse({"version": sesamedisk.__version__, "encrypted_library_version": 2,
                         "features": ["seafile-basic"]})


async def auth_token(request: Request) -> Response:
    """POST /api2/auth-token/: log in and get an api token for this device."""
    form = await read_small_form(request)
    username, password = form_text(form, "username") or "", form_text(form, "password") or ""
    try:
        token = await run_in_threadpool(
            accounts.login, deps_of(request), email=username, password=password,
            device_id=form_text(form, "device_id", "") or "",
            device_name=form_text(form, "device_name", "") or "",
            platform=form_text(form, "platform", "") or "")
    except SesameError:
        return JSONResponse({"non_field_errors": ["Unable to login with provided credentials."]},
                            status_code=400)
    return JSONResponse({"token": token})


async def logout_device(request: Request) -> Response:
    """POST /api2/logout-device/: revoke this token."""
    await current_user(request)
    await run_in_threadpool(accounts.logout, deps_of(request), bearer_token(request))
    return JSONResponse({})


async def account_info(request: Request) -> Response:
    """GET /api2/account/info/: profile and quota (unlimited for now)."""
    user = await current_user(request)
    return JSONResponse({"email": user.email, "name": user.email.split("@")[0],
                         "login_id": "", "contact_email": user.email, "institution": "",
                         "is_staff": user.is_admin, "total": -2, "usage": 0,
                         "space_usage": "0%"})


def _repo_json(library: Library, user: User, permission: str) -> dict[str, Any]:
    enc = library.encryption
    return {
        "type": "repo", "id": library.id, "name": library.name, "desc": library.description,
        "owner": user.email if library.owner_id == user.id else "",
        "owner_name": user.email.split("@")[0], "mtime": library.updated_at,
        "encrypted": enc is not None, "enc_version": enc.enc_version if enc else 0,
        "magic": enc.magic if enc else "", "random_key": enc.random_key if enc else "",
        "salt": enc.salt if enc else "", "permission": permission, "virtual": False,
        "root": "", "head_commit_id": library.head, "version": 1, "size": 0,
    }


def _download_info(library: Library, user: User, token: str) -> dict[str, Any]:
    enc = library.encryption
    info: dict[str, Any] = {
        "relay_id": "0" * 40, "relay_addr": "", "relay_port": "", "email": user.email,
        "token": token, "repo_id": library.id, "repo_name": library.name,
        "repo_desc": library.description, "repo_size": 0, "repo_size_formatted": "",
        "mtime": library.updated_at, "mtime_relative": "", "encrypted": 1 if enc else "",
        "enc_version": enc.enc_version if enc else 0, "salt": enc.salt if enc else "",
        "magic": enc.magic if enc else "", "random_key": enc.random_key if enc else "",
        "repo_version": 1, "head_commit_id": library.head, "permission": "rw",
    }
    return info


async def list_repos(request: Request) -> Response:
    """GET /api2/repos/: the caller's libraries."""
    user = await current_user(request)
    views = await run_in_threadpool(libraries.list_libraries, deps_of(request), user)
    return JSONResponse([_repo_json(v.library, user, v.permission.value) for v in views])


def _regions(text: str | None) -> frozenset[str] | None:
    """The `regions` form field (a sesamedisk extension): comma-separated region names."""
    if text is None or not text.strip():
        return None
    return frozenset(part.strip() for part in text.split(",") if part.strip())


async def create_repo(request: Request) -> Response:
    """POST /api2/repos/: create a plain or encrypted library; answers its download-info."""
    user = await current_user(request)
    form = await read_small_form(request)
    client_enc: tuple[int, str, str, str] | None = None
    if form_text(form, "magic"):
        try:
            version = int(form_text(form, "enc_version") or "2")
        except ValueError as exc:
            raise InvalidRequest("enc_version must be an integer") from exc
        client_enc = (version, form_text(form, "magic") or "", form_text(form, "random_key") or "",
                      form_text(form, "salt") or "")
    library = await run_in_threadpool(
        libraries.create_library, deps_of(request), user, name=form_text(form, "name") or "",
        description=form_text(form, "desc") or "", password=form_text(form, "passwd"),
        library_id=form_text(form, "repo_id") if client_enc else None,
        client_encryption=client_enc, regions=_regions(form_text(form, "regions")))
    _, token = await run_in_threadpool(libraries.issue_sync_token, deps_of(request), user,
                                       library.id)
    return JSONResponse(_download_info(library, user, token))


async def get_repo(request: Request) -> Response:
    """GET /api2/repos/<id>/: one library's details."""
    user = await current_user(request)
    library = await run_in_threadpool(libraries.get_library, deps_of(request), user,
                                      request.path_params["repo_id"])
    return JSONResponse(_repo_json(library, user, "rw"))


async def delete_repo(request: Request) -> Response:
    """DELETE /api2/repos/<id>/: delete a library (owner only)."""
    user = await current_user(request)
    await run_in_threadpool(libraries.delete_library, deps_of(request), user,
                            request.path_params["repo_id"])
    return JSONResponse("success")


async def download_info(request: Request) -> Response:
    """GET /api2/repos/<id>/download-info/: a fresh sync token and the library's parameters."""
    user = await current_user(request)
    library, token = await run_in_threadpool(libraries.issue_sync_token, deps_of(request), user,
                                             request.path_params["repo_id"])
    return JSONResponse(_download_info(library, user, token))


def routes() -> list[BaseRoute]:
    """Every /api2 route (with and without the trailing slash seahub uses)."""
    table: list[tuple[str, Any, list[str]]] = [
        ("/api2/ping/", ping, ["GET"]),
        ("/api2/auth/ping/", auth_ping, ["GET"]),
        ("/api2/server-info/", server_info, ["GET"]),
        ("/api2/auth-token/", auth_token, ["POST"]),
        ("/api2/logout-device/", logout_device, ["POST"]),
        ("/api2/account/info/", account_info, ["GET"]),
        ("/api2/repos/", list_repos, ["GET"]),
        ("/api2/repos/", create_repo, ["POST"]),
        ("/api2/repos/{repo_id}/", get_repo, ["GET"]),
        ("/api2/repos/{repo_id}/", delete_repo, ["DELETE"]),
        ("/api2/repos/{repo_id}/download-info/", download_info, ["GET"]),
    ]
    out: list[BaseRoute] = []
    for path, endpoint, methods in table:
        out.append(Route(path, endpoint, methods=methods))
        out.append(Route(path.rstrip("/"), endpoint, methods=methods))
    return out
