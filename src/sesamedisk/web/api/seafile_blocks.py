"""Read side of Seafile's web-style api2 for mobile apps and SeaDrive: listings and raw blocks.

All need `Authorization: Token` (or the web session).
- `GET /api2/repos/<id>/dir/?p=[&t=f|d][&recursive=1]`: a folder's entries, folders first
  then files by lower-cased name; headers `oid` (folder id) and `dir_perm`. `t=f` keeps
  files only, `t=d` folders only. `recursive=1` lists the whole subtree, each folder's
  entries right after it, every entry with `parent_dir` (the folder it is in: "/" or
  "/a/b", no trailing slash). A subtree of more than `client_reads.MAX_TREE_ENTRIES`
  entries answers 400. 440 while an encrypted library is locked.
- `GET /api2/repos/<id>/file/?p=&op=downloadblks` (dispatched from seafile_web.file_link):
  {"file_id", "blklist", "encrypted", "enc_version"}, header `oid`. Works on a locked
  encrypted library: the client decrypts the blocks itself. As Seahub, an empty file has
  an empty blklist, encrypted false and enc_version 0.
- `GET /api2/repos/<id>/files/<file_id>/blks/<block_id>/download-link/[?reuse=1]`:
  "<base>/seafhttp/blks/<token>/<block_id>" (a JSON string); the file must be stored in
  the library (else 404) and the block must be one of its blocks (else 403). The link
  works once, or with reuse=1 for an hour.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from sesamedisk.domain.access import library_permission
from sesamedisk.domain.objects import Dirent
from sesamedisk.errors import InvalidRequest
from sesamedisk.services import client_reads
from sesamedisk.web.auth import current_user
from sesamedisk.web.requests import deps_of, seafhttp_url
from sesamedisk.web.unlocks import open_library


def modifier_fields(email: str | None) -> dict[str, str]:
    """Seahub's modifier_email / modifier_name / modifier_contact_email of an entry."""
    email = email or ""
    return {"modifier_email": email, "modifier_name": email.split("@")[0],
            "modifier_contact_email": email}


def entry_json(dirent: Dirent, permission: str) -> dict[str, Any]:
    """One entry of an api2 folder listing."""
    out: dict[str, Any] = {"type": "dir" if dirent.is_dir else "file", "id": dirent.id,
                           "name": dirent.name, "mtime": dirent.mtime,
                           "permission": permission, "starred": False}
    if not dirent.is_dir:
        out["size"] = dirent.size or 0
        out.update(modifier_fields(dirent.modifier))
    return out


def _choice(request: Request, name: str, allowed: tuple[str, ...]) -> str:
    value = request.query_params.get(name, "")
    if value not in allowed:
        raise InvalidRequest(f"{name} must be one of {', '.join(v for v in allowed if v)}")
    return value


async def list_dir(request: Request) -> Response:
    """GET /api2/repos/<id>/dir/?p=[&t=f|d][&recursive=1]: a folder's entries or subtree."""
    wanted = _choice(request, "t", ("", "f", "d"))
    recursive = _choice(request, "recursive", ("", "0", "1")) == "1"
    user, library, _ = await open_library(request)
    path = request.query_params.get("p") or "/"
    listing = await run_in_threadpool(lambda: client_reads.list_folder(
        deps_of(request), user, library.id, path, recursive=recursive))
    permission = library_permission(user, library).value
    out = []
    for parent, dirent in listing.entries:
        if wanted and dirent.is_dir != (wanted == "d"):
            continue
        entry = entry_json(dirent, permission)
        if recursive:
            entry["parent_dir"] = parent
        out.append(entry)
    return JSONResponse(out, headers={"oid": listing.folder.id, "dir_perm": permission})


async def download_blocks(request: Request) -> Response:
    """GET /api2/repos/<id>/file/?p=&op=downloadblks: the file's id and block ids."""
    user = await current_user(request)
    path = request.query_params.get("p")
    if not path:
        raise InvalidRequest("query parameter p (a path) is required")
    found = await run_in_threadpool(client_reads.file_blocks, deps_of(request), user,
                                    request.path_params["repo_id"], path)
    encryption = found.library.encryption if found.block_ids else None
    return JSONResponse({"file_id": found.file_id, "blklist": list(found.block_ids),
                         "encrypted": encryption is not None,
                         "enc_version": encryption.enc_version if encryption else 0},
                        headers={"oid": found.file_id})


async def block_link(request: Request) -> Response:
    """GET /api2/repos/<id>/files/<fid>/blks/<bid>/download-link/: a block's URL."""
    user = await current_user(request)
    params = request.path_params
    token = await run_in_threadpool(lambda: client_reads.issue_block_link(
        deps_of(request), user, params["repo_id"], params["file_id"], params["block_id"],
        reuse=request.query_params.get("reuse") == "1"))
    return JSONResponse(seafhttp_url(request, f"blks/{token}/{params['block_id']}"))


def routes() -> list[BaseRoute]:
    """Every route of this module, with and without the trailing slash."""
    repo = "/api2/repos/{repo_id}"
    table: list[tuple[str, Any]] = [
        (f"{repo}/dir/", list_dir),
        (f"{repo}/files/{{file_id}}/blks/{{block_id}}/download-link/", block_link),
    ]
    out: list[BaseRoute] = []
    for path, endpoint in table:
        out.append(Route(path, endpoint, methods=["GET"]))
        out.append(Route(path.rstrip("/"), endpoint, methods=["GET"]))
    return out
