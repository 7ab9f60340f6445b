"""sesamedisk's own JSON file API: put, get, delete, move, list and mkdir at a path."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import anyio.to_thread
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from sesamedisk.domain.objects import Dirent
from sesamedisk.errors import InvalidRequest
from sesamedisk.ports.deps import Deps
from sesamedisk.services import files
from sesamedisk.web.auth import current_user
from sesamedisk.web.requests import blocking_iter, read_json


def _deps(request: Request) -> Deps:
    deps: Deps = request.app.state.deps
    return deps


def _path(request: Request) -> str:
    path = request.query_params.get("p")
    if not path:
        raise InvalidRequest("query parameter p (the path) is required")
    return path


def _dirent_json(dirent: Dirent) -> dict[str, Any]:
    out: dict[str, Any] = {"name": dirent.name, "id": dirent.id, "mtime": dirent.mtime,
                           "type": "dir" if dirent.is_dir else "file"}
    if not dirent.is_dir:
        out.update({"size": dirent.size or 0, "modifier": dirent.modifier or ""})
    return out


async def put_file(request: Request) -> Response:
    """PUT /api/v1/repos/<id>/file?p=: upload the body as the file's new content (streamed)."""
    user = await current_user(request)
    path, library_id = _path(request), request.path_params["repo_id"]
    body = blocking_iter(request.stream())
    dirent = await anyio.to_thread.run_sync(
        lambda: files.put_file(_deps(request), user, library_id, path, body))
    return JSONResponse(_dirent_json(dirent), status_code=201)


async def get_file(request: Request) -> Response:
    """GET /api/v1/repos/<id>/file?p=: download the file's content (streamed)."""
    user = await current_user(request)
    content = await run_in_threadpool(files.read_file, _deps(request), user,
                                      request.path_params["repo_id"], _path(request))
    name = quote(content.dirent.name)
    return StreamingResponse(content.chunks, media_type="application/octet-stream", headers={
        "content-length": str(content.size),
        "content-disposition": f"attachment; filename*=UTF-8''{name}"})


async def delete_file(request: Request) -> Response:
    """DELETE /api/v1/repos/<id>/file?p=: delete a file or folder."""
    user = await current_user(request)
    await run_in_threadpool(files.delete_path, _deps(request), user,
                            request.path_params["repo_id"], _path(request))
    return Response(status_code=204)


async def list_dir(request: Request) -> Response:
    """GET /api/v1/repos/<id>/dir?p=: the entries of a folder."""
    user = await current_user(request)
    directory = await run_in_threadpool(files.list_dir, _deps(request), user,
                                        request.path_params["repo_id"],
                                        request.query_params.get("p", "/"))
    return JSONResponse([_dirent_json(d) for d in directory.dirents])


async def make_dir(request: Request) -> Response:
    """POST /api/v1/repos/<id>/dir?p=: create a folder and its missing parents."""
    user = await current_user(request)
    await run_in_threadpool(files.make_dir, _deps(request), user,
                            request.path_params["repo_id"], _path(request))
    return Response(status_code=201)


async def move(request: Request) -> Response:
    """POST /api/v1/repos/<id>/move: {"path", "dst_dir", "new_name"?} moves or renames."""
    user = await current_user(request)
    body = await read_json(request)
    if not isinstance(body, dict) or not isinstance(body.get("path"), str) \
            or not isinstance(body.get("dst_dir"), str):
        raise InvalidRequest('body must be {"path": str, "dst_dir": str, "new_name"?: str}')
    new_name = body.get("new_name")
    if new_name is not None and not isinstance(new_name, str):
        raise InvalidRequest("new_name must be a string")
    await run_in_threadpool(lambda: files.move_path(
        _deps(request), user, request.path_params["repo_id"], body["path"],
        dst_dir=body["dst_dir"], new_name=new_name))
    return Response(status_code=204)


def routes() -> list[BaseRoute]:
    """Every /api/v1 file route."""
    repo = "/api/v1/repos/{repo_id}"
    return [
        Route(f"{repo}/file", put_file, methods=["PUT"]),
        Route(f"{repo}/file", get_file, methods=["GET"]),
        Route(f"{repo}/file", delete_file, methods=["DELETE"]),
        Route(f"{repo}/dir", list_dir, methods=["GET"]),
        Route(f"{repo}/dir", make_dir, methods=["POST"]),
        Route(f"{repo}/move", move, methods=["POST"]),
    ]
