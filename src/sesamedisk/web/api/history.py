"""History and recovery: commits, snapshots, file versions, restore, revert, trash.

Every route needs read permission on the library (restore, revert and trash restore need
write permission); another user's library answers 403. In an encrypted library every route
also needs the session to have unlocked it (440 otherwise), since commit descriptions,
names and contents are the library's data.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from sesamedisk.domain import crypto
from sesamedisk.domain.objects import Commit
from sesamedisk.domain.records import User
from sesamedisk.errors import InvalidRequest
from sesamedisk.services import history, trash
from sesamedisk.web.api.files import dirent_json
from sesamedisk.web.requests import deps_of, int_query, read_json, required_path
from sesamedisk.web.responses import content_disposition, streamed
from sesamedisk.web.unlocks import open_library


async def _caller(request: Request) -> tuple[User, str, crypto.FileKey | None]:
    """The user, the library id, and the library's file key (LibraryLocked if locked)."""
    user, library, key = await open_library(request)
    return user, library.id, key


async def _body(request: Request, *fields: str) -> dict[str, str]:
    """A JSON object whose `fields` are all strings."""
    body = await read_json(request)
    if not isinstance(body, dict) or not all(isinstance(body.get(f), str) for f in fields):
        shape = ", ".join(f'"{f}": str' for f in fields)
        raise InvalidRequest(f"body must be {{{shape}}}")
    return {f: body[f] for f in fields}


def _commit_json(commit: Commit) -> dict[str, Any]:
    return {"id": commit.commit_id, "parent_id": commit.parent_id,
            "second_parent_id": commit.second_parent_id, "ctime": commit.ctime,
            "creator": commit.creator_name or commit.creator,
            "description": commit.description}


async def list_commits(request: Request) -> Response:
    """GET /api/v1/repos/<id>/commits?limit=50&offset=0: commits, newest first.

    -> [{id, parent_id, second_parent_id, ctime, creator, description}]; limit <= 500.
    """
    user, library_id, _ = await _caller(request)
    limit, offset = int_query(request, "limit", 50), int_query(request, "offset", 0)
    commits = await run_in_threadpool(history.list_commits, deps_of(request), user, library_id,
                                      limit, offset)
    return JSONResponse([_commit_json(c) for c in commits])


async def commit_dir(request: Request) -> Response:
    """GET /api/v1/repos/<id>/commits/<cid>/dir?p=/: a folder as it was in that commit.

    -> [{name, id, mtime, type, size?, modifier?}]; 404 for an unknown commit or folder.
    """
    user, library_id, _ = await _caller(request)
    directory = await run_in_threadpool(history.list_dir_at, deps_of(request), user, library_id,
                                        request.path_params["commit_id"],
                                        request.query_params.get("p", "/"))
    return JSONResponse([dirent_json(d) for d in directory.dirents])


async def commit_file(request: Request) -> Response:
    """GET /api/v1/repos/<id>/commits/<cid>/file?p=: download a file as it was (streamed)."""
    user, library_id, key = await _caller(request)
    content = await run_in_threadpool(
        lambda: history.read_file_at(deps_of(request), user, library_id,
                                     request.path_params["commit_id"], required_path(request),
                                     file_key=key))
    return streamed(request, content.pieces, headers={
        "content-length": str(content.size),
        "content-disposition": content_disposition(content.dirent.name)})


async def file_history(request: Request) -> Response:
    """GET /api/v1/repos/<id>/file/history?p=: every version of a file, newest first.

    -> [{commit_id, ctime, creator, description, file_id, size}].
    """
    user, library_id, _ = await _caller(request)
    versions = await run_in_threadpool(history.file_history, deps_of(request), user, library_id,
                                       required_path(request))
    return JSONResponse([{
        "commit_id": v.commit.commit_id, "ctime": v.commit.ctime,
        "creator": v.commit.creator_name or v.commit.creator,
        "description": v.commit.description, "file_id": v.file_id, "size": v.size,
    } for v in versions])


async def restore(request: Request) -> Response:
    """POST /api/v1/repos/<id>/restore {commit_id, path}: bring a file or folder back.

    -> 200 {path} (a new commit; "name (restored).ext" when something else is there).
    """
    user, library_id, _ = await _caller(request)
    body = await _body(request, "commit_id", "path")
    restored = await run_in_threadpool(trash.restore_path, deps_of(request), user, library_id,
                                       body["commit_id"], body["path"])
    return JSONResponse({"path": restored})


async def revert(request: Request) -> Response:
    """POST /api/v1/repos/<id>/revert {commit_id}: make the library look as it did then.

    -> 200 {commit_id} of the new head (unchanged head when nothing differs).
    """
    user, library_id, _ = await _caller(request)
    body = await _body(request, "commit_id")
    commit = await run_in_threadpool(history.revert_library, deps_of(request), user,
                                     library_id, body["commit_id"])
    return JSONResponse({"commit_id": commit.commit_id})


async def list_trash(request: Request) -> Response:
    """GET /api/v1/repos/<id>/trash?limit=100: deleted files and folders, newest first.

    -> [{path, name, type, size, deleted_at, commit_id}]; restore one with
    POST trash/restore {commit_id, path}.
    """
    user, library_id, _ = await _caller(request)
    items = await run_in_threadpool(trash.list_trash, deps_of(request), user, library_id,
                                    int_query(request, "limit", 100))
    return JSONResponse([{
        "path": item.path, "name": item.dirent.name,
        "type": "dir" if item.dirent.is_dir else "file", "size": item.size,
        "deleted_at": item.deleted_at, "commit_id": item.commit_id,
    } for item in items])


def routes() -> list[BaseRoute]:
    """Every route of this module."""
    repo = "/api/v1/repos/{repo_id}"
    return [
        Route(f"{repo}/commits", list_commits, methods=["GET"]),
        Route(f"{repo}/commits/{{commit_id}}/dir", commit_dir, methods=["GET"]),
        Route(f"{repo}/commits/{{commit_id}}/file", commit_file, methods=["GET"]),
        Route(f"{repo}/file/history", file_history, methods=["GET"]),
        Route(f"{repo}/restore", restore, methods=["POST"]),
        Route(f"{repo}/revert", revert, methods=["POST"]),
        Route(f"{repo}/trash", list_trash, methods=["GET"]),
        Route(f"{repo}/trash/restore", restore, methods=["POST"]),
    ]
