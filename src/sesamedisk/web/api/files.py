"""sesamedisk's own JSON file API: files and folders at a path, copy, move, delete, ZIP.

Every route answers 440 for an encrypted library the session has not unlocked
(POST /api/v1/repos/<id>/unlock), like Seafile's web API; errors are {"error_msg": ...}.

- GET    /api/v1/repos/<id>/dir?p=/       -> 200 [{name, id, mtime, type, size?, modifier?}]
- POST   /api/v1/repos/<id>/dir?p=/a/b    -> 201 (creates missing parents)
- PUT    /api/v1/repos/<id>/file?p=/a.txt -> 201 dirent (body = the content, streamed)
- GET    /api/v1/repos/<id>/file?p=/a.txt[&inline=1] -> 200 content, or 206 for a single
  `Range: bytes=a-b | a- | -n` (416 + `Content-Range: bytes */size` when nothing of the
  file lies in it; several ranges, malformed ones or a stale `If-Range` get the whole file).
  `ETag` is the quoted file id (content-addressed: same id, same bytes), `Last-Modified` the
  entry's mtime, `Cache-Control: private, no-cache` (`no-store` for encrypted libraries);
  `If-None-Match` / `If-Modified-Since` -> 304, decided after the permission check and
  without reading a block (web/conditional). HEAD answers the same headers and reads no
  block. `inline=1` shows images, PDF, audio and video in the browser and
  text of any kind (HTML, SVG, scripts...) as text/plain; anything else stays an attachment.
- DELETE /api/v1/repos/<id>/file?p=       -> 204 (file or folder)
- POST   /api/v1/repos/<id>/move   {path, dst_dir, new_name?, dst_repo?} -> 204
- POST   /api/v1/repos/<id>/copy   {path, dst_dir, new_name?, dst_repo?} -> 204
  (move and copy rename like Seafile on a clash: "name (1).ext"; a folder cannot go into
  its own subtree: 400; `dst_repo` names another library to copy or move into, both
  sides unlocked if encrypted, see services/cross_library)
- POST   /api/v1/repos/<id>/delete {paths: [...]} -> 204 (one commit; 404 and nothing
  deleted when a path is missing)
- GET    /api/v1/repos/<id>/zip?p=/folder -> 200 application/zip, streamed
"""

from __future__ import annotations

import mimetypes
import re
from typing import Any

import anyio.to_thread
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from sesamedisk.domain import crypto
from sesamedisk.domain.objects import Dirent
from sesamedisk.domain.records import User
from sesamedisk.errors import InvalidRequest
from sesamedisk.services import downloads, files, libraries
from sesamedisk.web import conditional
from sesamedisk.web.api.cross_library import transfer_between
from sesamedisk.web.auth import current_user
from sesamedisk.web.requests import blocking_iter, deps_of, read_json, required_path
from sesamedisk.web.responses import content_disposition, streamed
from sesamedisk.web.unlocks import file_key_for

_RANGE = re.compile(r"bytes=(\d{0,20})-(\d{0,20})")
_INLINE_TYPES = frozenset({"application/pdf", "image/png", "image/jpeg", "image/gif",
                           "image/webp", "image/bmp", "image/avif", "image/x-icon",
                           "image/vnd.microsoft.icon"})
_TEXT_TYPES = frozenset({"application/json", "application/javascript", "application/xml",
                         "application/xhtml+xml", "image/svg+xml", "application/x-sh"})
PLAIN_TEXT = "text/plain; charset=utf-8"
DOWNLOAD_CACHE = "private, no-cache"
"""Per-user, permission-checked responses: a browser keeps them but revalidates every time."""
ENCRYPTED_DOWNLOAD_CACHE = "private, no-store"
"""Decrypted bytes are not left in browser caches (as for previews, docs/previews.md)."""


def _repo(request: Request) -> str:
    repo_id: str = request.path_params["repo_id"]
    return repo_id


async def _unlocked(request: Request, user: User) -> crypto.FileKey | None:
    """The session's key of the request's library (None if plain); 440 while locked."""
    library = await run_in_threadpool(libraries.get_library, deps_of(request), user,
                                      _repo(request))
    return file_key_for(request, library)


def dirent_json(dirent: Dirent) -> dict[str, Any]:
    """A folder entry as our JSON API lists it."""
    out: dict[str, Any] = {"name": dirent.name, "id": dirent.id, "mtime": dirent.mtime,
                           "type": "dir" if dirent.is_dir else "file"}
    if not dirent.is_dir:
        out.update({"size": dirent.size or 0, "modifier": dirent.modifier or ""})
    return out


def _requested_range(header: str | None) -> tuple[int, int | None] | None:
    """A single `bytes=` range as (start, end) slice bounds; None to send the whole file."""
    match = _RANGE.fullmatch(header.strip()) if header else None
    if match is None or match.groups() == ("", ""):
        return None
    first, last = match.groups()
    if not first:
        suffix = int(last)
        return (-suffix, None) if suffix else (0, 0)
    if not last:
        return int(first), None
    if int(last) < int(first):
        return None
    return int(first), int(last) + 1


def _inline_type(name: str) -> str | None:
    """A Content-Type safe to show in the browser for `name`; None means download it."""
    guessed, _ = mimetypes.guess_type(name, strict=False)
    if guessed is None:
        return None
    if guessed in _INLINE_TYPES or guessed.startswith(("audio/", "video/")):
        return guessed
    if guessed.startswith("text/") or guessed in _TEXT_TYPES:
        return PLAIN_TEXT
    return None


def _validators(dirent: Dirent) -> conditional.Validators:
    """A file's validators: its id (strong) and its mtime."""
    return conditional.Validators(etag=conditional.file_etag(dirent.id),
                                  last_modified=conditional.last_modified(dirent.mtime))


def _cache_control(file_key: crypto.FileKey | None) -> str:
    return DOWNLOAD_CACHE if file_key is None else ENCRYPTED_DOWNLOAD_CACHE


def _content_headers(request: Request, dirent: Dirent,
                     file_key: crypto.FileKey | None) -> tuple[str, dict[str, str]]:
    """Content-Type and the headers naming, typing, tagging and caching the file."""
    shown = _inline_type(dirent.name) if request.query_params.get("inline") == "1" else None
    modified = conditional.format_http_date(conditional.last_modified(dirent.mtime))
    return shown or "application/octet-stream", {
        "content-disposition": content_disposition(dirent.name, inline=shown is not None),
        "x-content-type-options": "nosniff", "accept-ranges": "bytes",
        "etag": str(conditional.file_etag(dirent.id)), "last-modified": modified,
        "cache-control": _cache_control(file_key)}


def _download(request: Request, content: downloads.RangedContent,
              file_key: crypto.FileKey | None, *, ranged: bool) -> Response:
    """200 with the file, 206 with its range when `ranged`, or 416 (headers only for HEAD)."""
    media_type, headers = _content_headers(request, content.dirent, file_key)
    status, length = 200, content.size
    if ranged and content.size > 0:
        if content.length == 0:
            return Response(status_code=416, headers={
                "content-range": f"bytes */{content.size}", "accept-ranges": "bytes"})
        status, length = 206, content.length
        headers["content-range"] = f"bytes {content.start}-{content.end - 1}/{content.size}"
    headers["content-length"] = str(length)
    return streamed(request, content.pieces, status_code=status, media_type=media_type,
                    headers=headers)


async def put_file(request: Request) -> Response:
    """PUT /api/v1/repos/<id>/file?p=: upload the body as the file's new content (streamed)."""
    user = await current_user(request)
    path, library_id = required_path(request), _repo(request)
    key = await _unlocked(request, user)
    body = blocking_iter(request.stream())
    dirent = await anyio.to_thread.run_sync(
        lambda: files.put_file(deps_of(request), user, library_id, path, body, file_key=key))
    return JSONResponse(dirent_json(dirent), status_code=201)


async def get_file(request: Request) -> Response:
    """GET (and HEAD) /api/v1/repos/<id>/file?p=[&inline=1]: the content, whole or a range.

    The file is looked up once; preconditions are decided on that entry after the same
    permission checks as a download, so a 304 or a HEAD answer reads no block, and the
    bytes sent are those of the very version whose ETag was compared (If-Range included).
    """
    user = await current_user(request)
    key = await _unlocked(request, user)
    asked = _requested_range(request.headers.get("range"))
    preconditions = conditional.Preconditions.of(request.headers)
    deps = deps_of(request)
    opened = await run_in_threadpool(lambda: files.open_file(
        deps, user, _repo(request), required_path(request), file_key=key))
    wanted = asked
    if preconditions.present:
        outcome = conditional.decide(preconditions, _validators(opened.dirent),
                                     range_requested=asked is not None)
        if outcome is conditional.Outcome.NOT_MODIFIED:
            return conditional.not_modified(_validators(opened.dirent), _cache_control(key))
        wanted = asked if outcome is conditional.Outcome.PARTIAL else None
    bounds = wanted or (0, None)
    if request.method == "HEAD":  # the span only: no block is looked at
        start, end = downloads.clamp(opened.file_obj.size, *bounds)
        content = downloads.RangedContent(dirent=opened.dirent, size=opened.file_obj.size,
                                          start=start, end=end, chunks=iter(()),
                                          pieces=iter(()))
    else:
        content = await run_in_threadpool(downloads.range_of, deps.objects, opened, *bounds)
    return _download(request, content, key, ranged=wanted is not None)


async def delete_file(request: Request) -> Response:
    """DELETE /api/v1/repos/<id>/file?p=: delete a file or folder."""
    user = await current_user(request)
    await _unlocked(request, user)
    await run_in_threadpool(files.delete_path, deps_of(request), user, _repo(request),
                            required_path(request))
    return Response(status_code=204)


async def list_dir(request: Request) -> Response:
    """GET /api/v1/repos/<id>/dir?p=: the entries of a folder."""
    user = await current_user(request)
    await _unlocked(request, user)
    directory = await run_in_threadpool(files.list_dir, deps_of(request), user, _repo(request),
                                        request.query_params.get("p", "/"))
    return JSONResponse([dirent_json(d) for d in directory.dirents])


async def make_dir(request: Request) -> Response:
    """POST /api/v1/repos/<id>/dir?p=: create a folder and its missing parents."""
    user = await current_user(request)
    await _unlocked(request, user)
    await run_in_threadpool(files.make_dir, deps_of(request), user, _repo(request),
                            required_path(request))
    return Response(status_code=201)


async def _transfer_body(request: Request) -> tuple[str, str, str | None, str | None]:
    """(path, dst_dir, new_name, dst_repo) of a move or copy request."""
    body = await read_json(request)
    if not isinstance(body, dict) or not isinstance(body.get("path"), str) \
            or not isinstance(body.get("dst_dir"), str):
        raise InvalidRequest('body must be {"path": str, "dst_dir": str, "new_name"?: str, '
                             '"dst_repo"?: str}')
    new_name, dst_repo = body.get("new_name"), body.get("dst_repo")
    if not isinstance(new_name, str | None) or not isinstance(dst_repo, str | None):
        raise InvalidRequest("new_name and dst_repo must be strings")
    return body["path"], body["dst_dir"], new_name, dst_repo


async def _transfer(request: Request, *, move: bool) -> Response:
    """Move or copy inside the library, or into `dst_repo` when it names another one."""
    user = await current_user(request)
    await _unlocked(request, user)
    path, dst_dir, new_name, dst_repo = await _transfer_body(request)
    if dst_repo is not None and dst_repo != _repo(request):
        await transfer_between(request, user, _repo(request), path, dst_repo, dst_dir,
                               move=move, new_name=new_name)
        return Response(status_code=204)
    operation = files.move_path if move else files.copy_path
    await run_in_threadpool(lambda: operation(
        deps_of(request), user, _repo(request), path, dst_dir=dst_dir, new_name=new_name))
    return Response(status_code=204)


async def move(request: Request) -> Response:
    """POST /api/v1/repos/<id>/move: {"path", "dst_dir", "new_name"?, "dst_repo"?}."""
    return await _transfer(request, move=True)


async def copy(request: Request) -> Response:
    """POST /api/v1/repos/<id>/copy: {"path", "dst_dir", "new_name"?, "dst_repo"?}."""
    return await _transfer(request, move=False)


async def delete_many(request: Request) -> Response:
    """POST /api/v1/repos/<id>/delete: {"paths": [...]} deletes them in one commit."""
    user = await current_user(request)
    await _unlocked(request, user)
    body = await read_json(request)
    targets = body.get("paths") if isinstance(body, dict) else None
    if not isinstance(targets, list) or not targets \
            or not all(isinstance(t, str) for t in targets):
        raise InvalidRequest('body must be {"paths": [str, ...]} with at least one path')
    await run_in_threadpool(files.delete_paths, deps_of(request), user, _repo(request), targets)
    return Response(status_code=204)


async def zip_folder(request: Request) -> Response:
    """GET /api/v1/repos/<id>/zip?p=/folder: the folder as a streamed ZIP archive."""
    user = await current_user(request)
    key = await _unlocked(request, user)
    archive = await run_in_threadpool(lambda: downloads.zip_folder(
        deps_of(request), user, _repo(request), required_path(request), file_key=key))
    return streamed(request, archive.chunks, media_type="application/zip", headers={
        "content-disposition": content_disposition(archive.filename),
        "x-content-type-options": "nosniff"})


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
        Route(f"{repo}/copy", copy, methods=["POST"]),
        Route(f"{repo}/delete", delete_many, methods=["POST"]),
        Route(f"{repo}/zip", zip_folder, methods=["GET"]),
    ]
