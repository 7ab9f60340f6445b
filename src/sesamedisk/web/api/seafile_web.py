"""Seafile's web-style api2 and api/v2.1 endpoints for mobile apps and SeaDrive (spec §10).

All need `Authorization: Token` (or the web session). `p` is a path in the library.
- `POST /api2/repos/<id>/` form `password=` [op=setpassword|checkpassword]: unlock an
  encrypted library for this token (§8.4) -> "success"; `op=rename&repo_name=` renames.
- `POST /api/v2.1/repos/<id>/set-password/` form/JSON `password`: unlock -> {"success": true}.
- `GET /api2/repos/<id>/dir/?p=[&t=f|d][&recursive=1]`: see seafile_blocks (read side).
- `POST …/dir/?p=` `operation=mkdir[&create_parents=true]` -> 201 "success";
  `operation=rename&newname=` -> "success". `DELETE …/dir/?p=` -> "success".
- `GET /api2/repos/<id>/file/?p=[&reuse=1]` -> "<base>/seafhttp/files/<token>/<name>" (a
  JSON string), header `oid`. Without reuse the link works once; with reuse for an hour.
  `op=downloadblks` answers the block list instead (seafile_blocks.download_blocks).
- `POST …/file/?p=` `operation=rename&newname=` | `move|copy&dst_dir=[&dst_repo=]` |
  `create` -> "success" (a `dst_repo` other than <id>: into that library, see
  web/api/cross_library). `DELETE …/file/?p=`.
- `GET …/file/detail/?p=` -> {id,type,name,size,mtime,permission,starred,last_modifier_*}.
- `GET …/file/history/?p=` -> {"commits": [{id,ctime,creator_name,desc,rev_file_id,
  rev_file_size,root_id,parent_id}]}, newest first.
- `GET /api2/repos/<id>/upload-link/?p=<folder>` -> "<base>/seafhttp/upload-api/<token>";
  `GET …/update-link/?p=<folder>` -> "<base>/seafhttp/update-api/<token>"; both reusable
  for an hour (resumable uploads post every chunk to the same link).
- `GET /api/v2.1/repos/<id>/file-uploaded-bytes/?parent_dir=&file_name=` ->
  {"uploadedBytes": N}, the bytes a resumable upload of that file has received so far.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from sesamedisk.domain import paths
from sesamedisk.domain.access import library_permission
from sesamedisk.domain.objects import Dirent, FileObject
from sesamedisk.domain.records import Library, User
from sesamedisk.errors import InvalidRequest, PathNotFound
from sesamedisk.services import files, history, libraries, transfer_links
from sesamedisk.web.api.cross_library import transfer_between
from sesamedisk.web.api.seafile_blocks import download_blocks, entry_json, modifier_fields
from sesamedisk.web.auth import current_user
from sesamedisk.web.requests import (
    deps_of,
    form_text,
    read_json,
    read_small_form,
    seafhttp_url,
)
from sesamedisk.web.unlocks import file_key_for, open_library, remember_key, unlocked_keys


def _path(request: Request, name: str = "p") -> str:
    value = request.query_params.get(name)
    if not value:
        raise InvalidRequest(f"query parameter {name} (a path) is required")
    return value


def _field(form: FormData, name: str) -> str:
    return form_text(form, name, "") or ""


async def _open(request: Request) -> tuple[User, Library]:
    """The caller and the library of the URL, which must be unlocked if encrypted (440)."""
    user, library, _ = await open_library(request)
    return user, library


async def unlock(request: Request) -> Response:
    """POST /api2/repos/<id>/: `password=` unlocks for this token; `op=rename` renames."""
    user = await current_user(request)
    form = await read_small_form(request)
    library_id = request.path_params["repo_id"]
    op = request.query_params.get("op") or _field(form, "op")
    if op == "rename":
        await run_in_threadpool(libraries.rename_library, deps_of(request), user, library_id,
                                _field(form, "repo_name"))
        return JSONResponse("success")
    if op not in ("", "setpassword", "checkpassword"):
        raise InvalidRequest(f"unknown op {op!r}")
    await _unlock(request, user, library_id, _field(form, "password"))
    return JSONResponse("success")


async def _unlock(request: Request, user: User, library_id: str, password: str) -> None:
    if not password:
        raise InvalidRequest("password is required")
    key = await run_in_threadpool(libraries.unlock_library, deps_of(request), user,
                                  library_id, password)
    remember_key(request, library_id, key)


async def set_password(request: Request) -> Response:
    """POST /api/v2.1/repos/<id>/set-password/: unlock with `password` (form or JSON)."""
    user = await current_user(request)
    if request.headers.get("content-type", "").startswith("application/json"):
        body = await read_json(request)
        password = body.get("password") if isinstance(body, dict) else None
        if not isinstance(password, str):
            raise InvalidRequest('body must be {"password": str}')
    else:
        password = _field(await read_small_form(request), "password")
    await _unlock(request, user, request.path_params["repo_id"], password)
    return JSONResponse({"success": True})


async def dir_op(request: Request) -> Response:
    """POST /api2/repos/<id>/dir/?p=: operation=mkdir (create_parents) or rename (newname)."""
    user, library = await _open(request)
    form = await read_small_form(request)
    path, deps = paths.normalize(_path(request)), deps_of(request)
    operation = _field(form, "operation")
    if operation == "mkdir":
        if _field(form, "create_parents").lower() != "true" and not paths.is_root(path):
            parent = await run_in_threadpool(transfer_links.entry_at, deps, user, library.id,
                                             paths.parent(path))
            if parent is None or not parent.is_dir:
                raise PathNotFound(f"no folder {paths.parent(path)}")
        await run_in_threadpool(files.make_dir, deps, user, library.id, path)
        return JSONResponse("success", status_code=201)
    if operation == "rename":
        await _rename(request, user, library, path, _field(form, "newname"))
        return JSONResponse("success")
    raise InvalidRequest("operation must be mkdir or rename")


async def _rename(request: Request, user: User, library: Library, path: str,
                  new_name: str) -> None:
    if not new_name:
        raise InvalidRequest("newname is required")
    if paths.is_root(path):
        raise InvalidRequest("the library root cannot be renamed")
    await run_in_threadpool(lambda: files.move_path(
        deps_of(request), user, library.id, path, dst_dir=paths.parent(path), new_name=new_name))


async def delete_entry(request: Request) -> Response:
    """DELETE /api2/repos/<id>/dir/?p= and …/file/?p=: delete a folder or file."""
    user, library = await _open(request)
    await run_in_threadpool(files.delete_path, deps_of(request), user, library.id,
                            _path(request))
    return JSONResponse("success")


async def _link(request: Request, op: str, path: str, *, reuse: bool) -> tuple[str, Dirent]:
    """A transfer token for `op` on `path`; an encrypted library's key goes with it."""
    user, library = await _open(request)
    token, entry = await run_in_threadpool(lambda: transfer_links.issue_link(
        deps_of(request), user, library.id, op, path, reuse=reuse))
    key = file_key_for(request, library)
    if key is not None:
        unlocked_keys(request).remember(transfer_links.key_holder(token), library.id, key)
    return token, entry


async def file_link(request: Request) -> Response:
    """GET /api2/repos/<id>/file/?p=[&reuse=1]: a download URL (JSON string), header oid."""
    if request.query_params.get("op") == "downloadblks":
        return await download_blocks(request)
    reuse = request.query_params.get("reuse") == "1"
    token, entry = await _link(request, transfer_links.DOWNLOAD, _path(request), reuse=reuse)
    url = seafhttp_url(request, f"files/{token}/{quote(entry.name)}")
    return JSONResponse(url, headers={"oid": entry.id})


async def upload_link(request: Request) -> Response:
    """GET /api2/repos/<id>/upload-link/?p=<folder>: the upload URL (JSON string)."""
    token, _ = await _link(request, transfer_links.UPLOAD,
                           request.query_params.get("p") or "/", reuse=True)
    return JSONResponse(seafhttp_url(request, f"upload-api/{token}"))


async def update_link(request: Request) -> Response:
    """GET /api2/repos/<id>/update-link/?p=<folder>: the update URL (JSON string)."""
    token, _ = await _link(request, transfer_links.UPDATE,
                           request.query_params.get("p") or "/", reuse=True)
    return JSONResponse(seafhttp_url(request, f"update-api/{token}"))


async def file_op(request: Request) -> Response:
    """POST /api2/repos/<id>/file/?p=: operation=rename|move|copy|create."""
    user, library = await _open(request)
    form = await read_small_form(request)
    path, deps = paths.normalize(_path(request)), deps_of(request)
    operation = _field(form, "operation")
    if operation == "rename":
        await _rename(request, user, library, path, _field(form, "newname"))
    elif operation in ("move", "copy"):
        dst_repo = _field(form, "dst_repo") or library.id
        dst_dir = _field(form, "dst_dir")
        if not dst_dir:
            raise InvalidRequest("dst_dir is required")
        if dst_repo != library.id:
            await transfer_between(request, user, library.id, path, dst_repo, dst_dir,
                                   move=operation == "move")
        elif operation == "move":
            await run_in_threadpool(lambda: files.move_path(deps, user, library.id, path,
                                                            dst_dir=dst_dir))
        else:
            await run_in_threadpool(lambda: files.copy_path(deps, user, library.id, path,
                                                            dst_dir=dst_dir))
    elif operation == "create":
        empty = transfer_links.NewFile(name=paths.basename(path), content=FileObject(
            block_ids=(), size=0))
        await run_in_threadpool(lambda: transfer_links.add_files(
            deps, user, library.id, paths.parent(path), [empty]))
        return JSONResponse("success", status_code=201)
    else:
        raise InvalidRequest("operation must be rename, move, copy or create")
    return JSONResponse("success")


async def file_detail(request: Request) -> Response:
    """GET /api2/repos/<id>/file/detail/?p=: one file's entry."""
    user, library = await _open(request)
    path = _path(request)
    entry = await run_in_threadpool(transfer_links.entry_at, deps_of(request), user,
                                    library.id, path)
    if entry is None or entry.is_dir:
        raise PathNotFound(f"no file {path}")
    out = entry_json(entry, library_permission(user, library).value)
    out.update({f"last_{k}": v for k, v in modifier_fields(entry.modifier).items()})
    return JSONResponse(out)


async def file_history(request: Request) -> Response:
    """GET /api2/repos/<id>/file/history/?p=: the commits that changed the file."""
    user, library = await _open(request)
    versions = await run_in_threadpool(history.file_history, deps_of(request), user,
                                       library.id, _path(request))
    return JSONResponse({"commits": [{
        "id": v.commit.commit_id, "ctime": v.commit.ctime, "desc": v.commit.description,
        "creator_name": v.commit.creator_name or "", "root_id": v.commit.root_id,
        "parent_id": v.commit.parent_id, "rev_file_id": v.file_id, "rev_file_size": v.size,
    } for v in versions]})


async def uploaded_bytes(request: Request) -> Response:
    """GET /api/v2.1/repos/<id>/file-uploaded-bytes/: bytes received of a resumable upload."""
    user, library = await _open(request)
    path = paths.join(_path(request, "parent_dir"), _path(request, "file_name"))
    received = await run_in_threadpool(transfer_links.uploaded_bytes, deps_of(request), user,
                                       library.id, path)
    return JSONResponse({"uploadedBytes": received})


def routes() -> list[BaseRoute]:
    """Every route of this module, with and without the trailing slash."""
    repo, v21 = "/api2/repos/{repo_id}", "/api/v2.1/repos/{repo_id}"
    table: list[tuple[str, Any, list[str]]] = [
        (f"{repo}/", unlock, ["POST"]),
        (f"{v21}/set-password/", set_password, ["POST"]),
        (f"{repo}/dir/", dir_op, ["POST"]),
        (f"{repo}/dir/", delete_entry, ["DELETE"]),
        (f"{repo}/file/", file_link, ["GET"]),
        (f"{repo}/file/", file_op, ["POST"]),
        (f"{repo}/file/", delete_entry, ["DELETE"]),
        (f"{repo}/file/detail/", file_detail, ["GET"]),
        (f"{repo}/file/history/", file_history, ["GET"]),
        (f"{repo}/upload-link/", upload_link, ["GET"]),
        (f"{repo}/update-link/", update_link, ["GET"]),
        (f"{v21}/file-uploaded-bytes/", uploaded_bytes, ["GET"]),
    ]
    out: list[BaseRoute] = []
    for path, endpoint, methods in table:
        out.append(Route(path, endpoint, methods=methods))
        out.append(Route(path.rstrip("/"), endpoint, methods=methods))
    return out
