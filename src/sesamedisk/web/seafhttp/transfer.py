"""Token-authorised transfers under /seafhttp: file downloads, upload and update APIs (§10).

- `GET /seafhttp/files/<token>/<name>`: the file of a download link, streamed block by block;
  `Range: bytes=a-b` (one range) answers 206 for plain libraries; `Content-Disposition`
  carries the name. A one-time token is consumed by this request.
- `POST /seafhttp/upload-api/<token>[?ret-json=1]`: multipart/form-data with `parent_dir`
  (must equal the link's folder), one or more `file` parts (the part's filename is the
  target name), optional `relative_path` (sub-folders, created on demand), `replace` (0|1),
  `last_modify` (RFC 3339). Answers `[{"name","id","size"}]` with ret-json, else the new
  file ids joined by tabs. A taken name becomes "name (1).ext" unless replace=1.
  Resumable: a request with `Content-Range: bytes a-b/total` (and `Content-Disposition:
  attachment; filename="<urlencoded>"`) carries one chunk of one file; intermediate chunks
  answer `{"success": true}`, the last one the normal answer.
- `POST /seafhttp/update-api/<token>[?ret-json=1]`: multipart with `target_file` (a file in
  the link's folder) and one `file` part; answers the new file id (or JSON with ret-json).

Errors: 400 bad form, 403 unknown/expired/used token or a folder other than the link's,
404 missing target, 440 invalid file name, 441 file exists, 442 too large, 443 quota.
The parts are parsed while they arrive; file contents go straight into blocks.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import unquote

import anyio.to_thread
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from sesamedisk import errors
from sesamedisk.domain import crypto, paths
from sesamedisk.domain.objects import Dirent, FileObject
from sesamedisk.ports.deps import Deps
from sesamedisk.services import downloads, files, transfer_links, uploads
from sesamedisk.services.transfer_links import DOWNLOAD, UPDATE, UPLOAD, NewFile, Transfer
from sesamedisk.web.requests import blocking_iter, deps_of
from sesamedisk.web.responses import content_disposition, streamed
from sesamedisk.web.seafhttp.multipart import MultipartStream
from sesamedisk.web.seafhttp.refusals import file_name, mtime, with_upload_statuses
from sesamedisk.web.unlocks import unlocked_keys

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")


def _file_key(request: Request, transfer: Transfer) -> crypto.FileKey | None:
    """The key the link was issued with (encrypted libraries); 403 once it is forgotten."""
    if not transfer.library.encrypted:
        return None
    key = unlocked_keys(request).get(transfer_links.key_holder(transfer.token.token),
                                     transfer.library.id)
    if key is None:
        raise errors.LibraryLocked("the library is locked again: ask for a new link")
    return key


def _byte_range(header: str | None) -> tuple[int, int | None] | None:
    """(start, end) as slice bounds of a single `bytes=` range; None for none or several."""
    match = _RANGE.match((header or "").strip())
    if match is None or match.groups() == ("", ""):
        return None
    first, last = match.groups()
    if not first:
        return -int(last), None
    return int(first), int(last) + 1 if last else None


async def download(request: Request) -> Response:
    """GET /seafhttp/files/<token>/<name>: the linked file, streamed (one Range honoured)."""
    deps = deps_of(request)
    transfer = await run_in_threadpool(transfer_links.redeem, deps,
                                       request.path_params["token"], DOWNLOAD)
    key = _file_key(request, transfer)
    span = _byte_range(request.headers.get("range"))
    start, end = span if span is not None else (0, None)
    content = await run_in_threadpool(lambda: downloads.read_range(
        deps, transfer.actor, transfer.library.id, transfer.token.path, start=start, end=end,
        file_key=key))
    headers = {"content-disposition": content_disposition(content.dirent.name),
               "accept-ranges": "bytes", "content-length": str(content.length)}
    if span is None:
        return streamed(request, content.pieces, headers=headers)
    if content.length == 0:
        return PlainTextResponse("range not satisfiable", status_code=416,
                                 headers={"content-range": f"bytes */{content.size}"})
    headers["content-range"] = f"bytes {content.start}-{content.end - 1}/{content.size}"
    return streamed(request, content.pieces, status_code=206, headers=headers)


class _Form:
    """What a multipart upload carried: its text fields and its stored file parts."""

    def __init__(self) -> None:
        self.fields: dict[str, str] = {}
        self.files: list[tuple[str, FileObject]] = []


def _read_form(deps: Deps, transfer: Transfer, key: crypto.FileKey | None,
               stream: MultipartStream) -> _Form:
    """Read every part: small fields as text, file contents chunked into stored blocks."""
    form = _Form()
    for part in stream.parts():
        if part.filename is None:
            form.fields[part.name] = stream.text()
        elif part.name == "file":
            name = file_name(part.filename)
            form.files.append((name, files.store_content(deps, transfer.library,
                                                         stream.chunks(), key)))
    return form


def _require_folder(fields: dict[str, str], transfer: Transfer) -> str:
    parent = fields.get("parent_dir")
    if parent is None:
        raise errors.InvalidRequest("parent_dir is required")
    return transfer_links.link_folder(transfer, parent)


def _receive_upload(deps: Deps, transfer: Transfer, key: crypto.FileKey | None,
                    stream: MultipartStream) -> list[Dirent]:
    """The whole multipart upload, stored then added to the folder in one commit."""
    form = _read_form(deps, transfer, key, stream)
    parent = _require_folder(form.fields, transfer)
    if not form.files:
        raise errors.InvalidRequest("no file part in the upload")
    relative = paths.normalize(form.fields.get("relative_path", "") or "/")
    modified = mtime(form.fields.get("last_modify"))
    new = [NewFile(name=name, content=obj, relative_path=relative, mtime=modified)
           for name, obj in form.files]
    return transfer_links.add_files(deps, transfer.actor, transfer.library.id, parent, new,
                                    replace=form.fields.get("replace", "0") == "1")


def _receive_update(deps: Deps, transfer: Transfer, key: crypto.FileKey | None,
                    stream: MultipartStream) -> list[Dirent]:
    """The new content of `target_file`, which must lie in the link's folder."""
    form = _read_form(deps, transfer, key, stream)
    target = form.fields.get("target_file")
    if not target:
        raise errors.InvalidRequest("target_file is required")
    target = transfer_links.file_in_link_folder(transfer, target)
    if len(form.files) != 1:
        raise errors.InvalidRequest("an update carries exactly one file part")
    dirent = transfer_links.update_file(deps, transfer.actor, transfer.library.id, target,
                                        form.files[0][1],
                                        mtime=mtime(form.fields.get("last_modify")))
    return [dirent]


def _answer(request: Request, dirents: list[Dirent]) -> Response:
    if "ret-json" in request.query_params:
        return JSONResponse([{"name": d.name, "id": d.id, "size": d.size or 0}
                             for d in dirents])
    return PlainTextResponse("\t".join(d.id for d in dirents))


async def _multipart(request: Request, op: str) -> Response:
    deps = deps_of(request)
    transfer = await run_in_threadpool(transfer_links.redeem, deps,
                                       request.path_params["token"], op)
    key = _file_key(request, transfer)
    content_type = request.headers.get("content-type", "")
    source: Iterator[bytes] = blocking_iter(request.stream())
    receive = _receive_upload if op == UPLOAD else _receive_update
    if op == UPLOAD and request.headers.get("content-range"):
        return await _chunk(request, transfer, key, source, content_type)
    dirents = await anyio.to_thread.run_sync(
        lambda: receive(deps, transfer, key, MultipartStream(source, content_type)))
    return _answer(request, dirents)


def _content_range(header: str) -> tuple[int, int, int]:
    """(first, last, total) of `Content-Range: bytes first-last/total`."""
    match = _CONTENT_RANGE.match(header.strip())
    if match is None:
        raise errors.InvalidRequest("Content-Range must be bytes <first>-<last>/<total>")
    first, last, total = (int(group) for group in match.groups())
    if not first <= last < total:
        raise errors.InvalidRequest("Content-Range is outside the file")
    return first, last, total


def _receive_chunk(deps: Deps, transfer: Transfer, key: crypto.FileKey | None,
                   stream: MultipartStream, *, chunk: tuple[int, int, int],
                   filename: str | None) -> uploads.UploadState | None:
    """Append the request's one file part to the resumable upload it continues.

    The fields (parent_dir first) must come before the file part, as web uploaders send
    them: the file's path must be known before its bytes stream into the session.
    """
    first, last, total = chunk
    fields: dict[str, str] = {}
    state: uploads.UploadState | None = None
    for part in stream.parts():
        if part.filename is None:
            fields[part.name] = stream.text()
            continue
        if part.name != "file" or state is not None:
            continue
        if "parent_dir" not in fields:
            raise errors.InvalidRequest("parent_dir must come before the file part")
        folder = paths.join(_require_folder(fields, transfer),
                            *paths.split(fields.get("relative_path", "")))
        path = paths.join(folder, file_name(filename or part.filename))
        state = _session(deps, transfer, path, fields, first=first, total=total)
        state = uploads.append_chunk(deps, transfer.actor, state.id, first, stream.chunks(),
                                     file_key=key, length=last - first + 1)
    if state is None:
        raise errors.InvalidRequest("no file part in the upload")
    return state


def _session(deps: Deps, transfer: Transfer, path: str, fields: dict[str, str], *,
             first: int, total: int) -> uploads.UploadState:
    """The session a chunk continues; the first chunk opens a fresh one."""
    actor, library_id = transfer.actor, transfer.library.id
    if first == 0:
        return uploads.start_upload(deps, actor, library_id, path, total,
                                    mtime=mtime(fields.get("last_modify")),
                                    replace=fields.get("replace", "0") == "1")
    state = uploads.find_upload(deps, actor, library_id, path, total)
    if state is None:
        raise errors.InvalidRequest(f"no upload of {path} to continue: start at byte 0")
    return state


async def _chunk(request: Request, transfer: Transfer, key: crypto.FileKey | None,
                 source: Iterator[bytes], content_type: str) -> Response:
    """One chunk of a resumable upload: {"success": true} until the last one."""
    chunk = _content_range(request.headers.get("content-range", ""))
    filename = _chunk_name(request.headers.get("content-disposition"))
    try:
        state = await anyio.to_thread.run_sync(lambda: _receive_chunk(
            deps_of(request), transfer, key, MultipartStream(source, content_type), chunk=chunk,
            filename=filename))
    except uploads.UploadOffsetMismatch as exc:
        return JSONResponse({"error": exc.message, "received": exc.received}, status_code=409)
    if state is None or state.dirent is None:
        return JSONResponse({"success": True})
    return _answer(request, [state.dirent])


@with_upload_statuses
async def upload(request: Request) -> Response:
    """POST /seafhttp/upload-api/<token>: new files into the link's folder (multipart)."""
    return await _multipart(request, UPLOAD)


@with_upload_statuses
async def update(request: Request) -> Response:
    """POST /seafhttp/update-api/<token>: new content for a file in the link's folder."""
    return await _multipart(request, UPDATE)


def _chunk_name(header: str | None) -> str | None:
    """The urlencoded filename of a chunk's `Content-Disposition` request header."""
    if not header:
        return None
    match = re.search(r'filename="?([^";]*)"?', header)
    return unquote(match.group(1)) if match else None


def routes() -> list[BaseRoute]:
    """Every route of this module."""
    return [
        Route("/seafhttp/files/{token}/{name:path}", download, methods=["GET"]),
        Route("/seafhttp/upload-api/{token}", upload, methods=["POST"]),
        Route("/seafhttp/upload-api/{token}/", upload, methods=["POST"]),
        Route("/seafhttp/update-api/{token}", update, methods=["POST"]),
        Route("/seafhttp/update-api/{token}/", update, methods=["POST"]),
    ]
