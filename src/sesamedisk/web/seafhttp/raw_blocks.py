"""Block-level uploads under /seafhttp: raw blocks, then a file committed from its blocks (§10.4).

- `POST /seafhttp/upload-raw-blks-api/<token>`: multipart/form-data; each `file` part's
  filename is a block id and its body the block as the app made it (encrypted with the
  library's file key for an encrypted library), at most 10 MiB. Each block streams into
  the store and is published only if its SHA-1 is its id. Text parts (the apps send
  `filename`, `csrfmiddlewaretoken`) are ignored. Answers the JSON string "OK". Upload
  and update links are both accepted.
- `POST /seafhttp/upload-blks-api/<token>?commitonly=true[&ret-json=true]`: multipart
  fields `parent_dir` (the link's folder), `file_name`, `file_size`, `blockids` (a JSON
  list), optional `replace` (0|1) and `last_modify` (RFC 3339). Adds the file made of those
  blocks: {"id": "<file id>"} with ret-json, else the id as a JSON string.
- `POST /seafhttp/update-blks-api/<token>?commitonly=true`: `target_file` (a file in the
  link's folder), `file_size`, `blockids`; answers the new file id ({"id"} with ret-json).

Errors: 400 bad form, wrong size or a block whose bytes are not its id; 403 unknown or
expired token, no write permission, a folder other than the link's; 404 no such file to
update; 440 invalid file name; 441 a path component is a file; 442 a block over the limit;
446 blocks not uploaded: {"error", "missing": [ids]}.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import anyio.to_thread
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from sesamedisk import errors
from sesamedisk.domain.objects import Dirent
from sesamedisk.ports.deps import Deps
from sesamedisk.services import block_uploads, transfer_links
from sesamedisk.services.block_uploads import BlockIds
from sesamedisk.services.transfer_links import UPDATE, UPLOAD, Transfer
from sesamedisk.web.requests import blocking_iter, deps_of
from sesamedisk.web.seafhttp.multipart import MAX_FIELD_BYTES, MultipartStream
from sesamedisk.web.seafhttp.refusals import file_name, mtime, with_upload_statuses

_FIELDS = {"parent_dir": MAX_FIELD_BYTES, "file_name": MAX_FIELD_BYTES,
           "target_file": MAX_FIELD_BYTES, "file_size": MAX_FIELD_BYTES,
           "replace": MAX_FIELD_BYTES, "last_modify": MAX_FIELD_BYTES,
           "commitonly": MAX_FIELD_BYTES, "ret-json": MAX_FIELD_BYTES,
           "blockids": block_uploads.MAX_BLOCK_LIST_BYTES}
"""The commit's fields and how long each may be; other fields are skipped unread."""


def _block_name(filename: str) -> str:
    """The block id a part's filename carries (a client may send a whole path)."""
    return filename.replace("\\", "/").rsplit("/", 1)[-1].strip()


def _receive_blocks(deps: Deps, transfer: Transfer, stream: MultipartStream,
                    limit: int) -> int:
    """Stream every `file` part into the store as a block of at most `limit` bytes."""
    stored = 0
    for part in stream.parts():
        if part.filename is None or part.name != "file":
            continue
        block_uploads.store_block(deps, transfer, _block_name(part.filename), stream.chunks(),
                                  max_bytes=limit)
        stored += 1
    if stored == 0:
        raise errors.InvalidRequest("no block in the upload: send parts named file")
    return stored


def _read_fields(stream: MultipartStream) -> dict[str, str]:
    fields: dict[str, str] = {}
    for part in stream.parts():
        limit = _FIELDS.get(part.name)
        if part.filename is None and limit is not None:
            fields[part.name] = stream.text(limit)
    return fields


def _name(raw: str | None) -> str:
    if not raw:
        raise errors.InvalidRequest("file_name is required")
    return file_name(raw)


def _size(raw: str | None) -> int:
    text = (raw or "").strip()
    if not (text.isascii() and text.isdigit() and len(text) <= 18):
        raise errors.InvalidRequest("file_size must be a non-negative integer")
    return int(text)


def _block_list(raw: str | None) -> BlockIds:
    if raw is None:
        raise errors.InvalidRequest("blockids is required")
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise errors.InvalidRequest("blockids must be a JSON list of block ids") from exc
    if not isinstance(value, list):
        raise errors.InvalidRequest("blockids must be a JSON list of block ids")
    return block_uploads.block_ids(value)


def _replace(raw: str | None) -> bool:
    if raw not in (None, "", "0", "1"):
        raise errors.InvalidRequest("replace must be 0 or 1")
    return raw == "1"


def _commit(deps: Deps, transfer: Transfer, op: str, fields: dict[str, str]) -> Dirent:
    """The file the commit's fields describe, added (upload) or replacing one (update)."""
    size, ids = _size(fields.get("file_size")), _block_list(fields.get("blockids"))
    modified = mtime(fields.get("last_modify"))
    if op == UPDATE:
        target = fields.get("target_file")
        if not target:
            raise errors.InvalidRequest("target_file is required")
        return block_uploads.commit_update(deps, transfer, ids, size, target=target,
                                           mtime=modified)
    parent = fields.get("parent_dir")
    if not parent:
        raise errors.InvalidRequest("parent_dir is required")
    return block_uploads.commit_new(deps, transfer, ids, size, parent_dir=parent,
                                    name=_name(fields.get("file_name")),
                                    replace=_replace(fields.get("replace")), mtime=modified)


def _source(request: Request) -> Iterator[bytes]:
    return blocking_iter(request.stream())


@with_upload_statuses
async def raw_blocks(request: Request) -> Response:
    """POST /seafhttp/upload-raw-blks-api/<token>: store the posted blocks -> "OK"."""
    deps = deps_of(request)
    transfer = await run_in_threadpool(block_uploads.redeem, deps,
                                       request.path_params["token"])
    limit: int = request.app.state.max_block_bytes
    content_type, source = request.headers.get("content-type", ""), _source(request)
    await anyio.to_thread.run_sync(lambda: _receive_blocks(
        deps, transfer, MultipartStream(source, content_type), limit))
    return JSONResponse("OK")


def _flag(request: Request, fields: dict[str, str], name: str) -> bool:
    return name in request.query_params or name in fields


async def _commit_request(request: Request, op: str) -> Response:
    deps = deps_of(request)
    transfer = await run_in_threadpool(transfer_links.redeem, deps,
                                       request.path_params["token"], op)
    content_type, source = request.headers.get("content-type", ""), _source(request)
    fields = await anyio.to_thread.run_sync(
        lambda: _read_fields(MultipartStream(source, content_type)))
    if not _flag(request, fields, "commitonly"):
        raise errors.InvalidRequest("only commitonly=true is supported: post the "
                                    "blocks to upload-raw-blks-api first")
    dirent = await run_in_threadpool(_commit, deps, transfer, op, fields)
    if _flag(request, fields, "ret-json"):
        return JSONResponse({"id": dirent.id})
    if op == UPDATE:
        return PlainTextResponse(dirent.id)
    return JSONResponse(dirent.id)


@with_upload_statuses
async def upload_blocks(request: Request) -> Response:
    """POST /seafhttp/upload-blks-api/<token>: a new file from uploaded blocks."""
    return await _commit_request(request, UPLOAD)


@with_upload_statuses
async def update_blocks(request: Request) -> Response:
    """POST /seafhttp/update-blks-api/<token>: new content for a file from uploaded blocks."""
    return await _commit_request(request, UPDATE)


def routes() -> list[BaseRoute]:
    """Every route of this module, with and without the trailing slash."""
    table = [("/seafhttp/upload-raw-blks-api/{token}", raw_blocks),
             ("/seafhttp/upload-blks-api/{token}", upload_blocks),
             ("/seafhttp/update-blks-api/{token}", update_blocks)]
    return [Route(path + slash, endpoint, methods=["POST"])
            for path, endpoint in table for slash in ("", "/")]
