"""Routes of the Seafile sync protocol (spec sections 5-7), authorised by repo tokens."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from sesamedisk.ports.objects import ObjectKind
from sesamedisk.services import sync
from sesamedisk.web.requests import (
    MAX_JSON_BYTES,
    deps_of,
    read_body,
    read_json_list,
    stream_body,
)

PROTOCOL_VERSION = 2
MAX_PACK_BYTES = 64 * 1024 * 1024

Endpoint = Callable[[Request], Awaitable[Response]]


def repo_token(request: Request, *, authorization: bool = False) -> str | None:
    """The repo token of `Seafile-Repo-Token`.

    With `authorization`, also of `Authorization: Token <repo token>` when that header is
    absent (newer fileservers accept it on their §10 reads; the sync routes do not).
    """
    token = request.headers.get("seafile-repo-token")
    if token or not authorization:
        return token
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "token":
        return None
    return value.strip() or None


def _param(request: Request, name: str) -> str:
    return str(request.path_params[name])


async def _session(request: Request, *, write: bool = False) -> sync.SyncSession:
    return await run_in_threadpool(sync.open_session, deps_of(request), repo_token(request),
                                   _param(request, "repo_id"), write=write)


def ok() -> Response:
    """An empty 200, as the daemon expects for accepted writes."""
    return Response(b"", status_code=200)


async def protocol_version(request: Request) -> Response:
    """GET /seafhttp/protocol-version."""
    return JSONResponse({"version": PROTOCOL_VERSION})


async def get_head(request: Request) -> Response:
    """GET commit/HEAD: the head commit id (444 once the library is deleted)."""
    session = await _session(request)
    return JSONResponse({"is_corrupted": 0, "head_commit_id": session.library.head})


async def put_head(request: Request) -> Response:
    """PUT commit/HEAD/?head=: fast-forward or merge on the server."""
    session = await _session(request, write=True)
    head = request.query_params.get("head", "")
    await run_in_threadpool(sync.update_head, deps_of(request), session, head)
    return ok()


async def get_commit(request: Request) -> Response:
    """GET commit/<id>: the raw commit bytes."""
    session = await _session(request)
    raw = await run_in_threadpool(sync.get_commit, deps_of(request), session,
                                  _param(request, "commit_id"))
    return Response(raw)


async def put_commit(request: Request) -> Response:
    """PUT commit/<id>: store an uploaded commit."""
    session = await _session(request, write=True)
    raw = await read_body(request, MAX_JSON_BYTES)
    await run_in_threadpool(sync.put_commit, deps_of(request), session,
                            _param(request, "commit_id"), raw)
    return ok()


async def get_block(request: Request) -> Response:
    """GET block/<id>: a block's bytes, read and checked against the id in a worker thread."""
    session = await _session(request)
    data = await run_in_threadpool(sync.get_block, deps_of(request), session,
                                   _param(request, "block_id"))
    return Response(data, media_type="application/octet-stream")


async def put_block(request: Request) -> Response:
    """PUT block/<id>: stream the body to the store, hashing it once on the way."""
    session = await _session(request, write=True)
    block_id = _param(request, "block_id")
    writer = await run_in_threadpool(sync.open_block_upload, deps_of(request), session, block_id)
    try:
        await stream_body(request, writer.write, request.app.state.max_block_bytes)
        await run_in_threadpool(sync.finish_block_upload, writer, block_id)
    except BaseException:
        await run_in_threadpool(writer.abort)
        raise
    return ok()


async def permission_check(request: Request) -> Response:
    """GET permission-check/?op=download|upload."""
    await run_in_threadpool(sync.check_permission, deps_of(request), repo_token(request),
                            _param(request, "repo_id"), request.query_params.get("op", ""))
    return ok()


async def quota_check(request: Request) -> Response:
    """GET quota-check/?delta=N."""
    session = await _session(request, write=True)
    sync.check_quota(session, request.query_params.get("delta"))
    return ok()


async def fs_id_list(request: Request) -> Response:
    """GET fs-id-list/?server-head=&client-head=."""
    session = await _session(request)
    server_head = request.query_params.get("server-head", "")
    client_head = request.query_params.get("client-head") or None
    ids = await run_in_threadpool(sync.fs_id_list, deps_of(request), session, server_head,
                                  client_head)
    return JSONResponse(ids)


async def pack_fs(request: Request) -> Response:
    """POST pack-fs/: the asked-for fs objects as a binary pack."""
    session = await _session(request)
    ids = await read_json_list(request)
    body = await run_in_threadpool(sync.pack_fs, deps_of(request), session, ids)
    return Response(body, media_type="application/octet-stream")


async def recv_fs(request: Request) -> Response:
    """POST recv-fs/: store the fs objects of an uploaded pack."""
    session = await _session(request, write=True)
    body = await read_body(request, MAX_PACK_BYTES)
    await run_in_threadpool(sync.receive_fs, deps_of(request), session, body)
    return ok()


def _check(kind: ObjectKind) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        session = await _session(request)
        ids = await read_json_list(request)
        missing = await run_in_threadpool(sync.missing_objects, deps_of(request), session,
                                          kind, ids)
        return JSONResponse(missing)

    endpoint.__doc__ = f"POST check-{kind.value}: which of these ids the server lacks."
    return endpoint


async def head_commits_multi(request: Request) -> Response:
    """POST head-commits-multi/: heads of many libraries (no token, as the daemon sends)."""
    ids = await read_json_list(request)
    heads = await run_in_threadpool(sync.head_commits, deps_of(request), ids)
    return JSONResponse(heads)


async def not_supported(request: Request) -> Response:
    """Features this server does not offer yet: the daemon then switches them off."""
    return Response(b"not supported", status_code=404)


def _both(path: str, endpoint: Endpoint, methods: list[str]) -> list[BaseRoute]:
    """The route with and without a trailing slash (the daemon uses both styles)."""
    bare = path.rstrip("/")
    return [Route(bare, endpoint, methods=methods), Route(bare + "/", endpoint, methods=methods)]


def routes() -> list[BaseRoute]:
    """Every /seafhttp route."""
    repo = "/seafhttp/repo/{repo_id}"
    table: list[tuple[str, Endpoint, list[str]]] = [
        ("/seafhttp/protocol-version", protocol_version, ["GET"]),
        ("/seafhttp/repo/head-commits-multi", head_commits_multi, ["POST"]),
        ("/seafhttp/repo/folder-perm", not_supported, ["POST"]),
        ("/seafhttp/repo/locked-files", not_supported, ["POST"]),
        (f"{repo}/commit/HEAD", get_head, ["GET"]),
        (f"{repo}/commit/HEAD", put_head, ["PUT"]),
        (f"{repo}/commit/{{commit_id}}", get_commit, ["GET"]),
        (f"{repo}/commit/{{commit_id}}", put_commit, ["PUT"]),
        (f"{repo}/block/{{block_id}}", get_block, ["GET"]),
        (f"{repo}/block/{{block_id}}", put_block, ["PUT"]),
        (f"{repo}/permission-check", permission_check, ["GET"]),
        (f"{repo}/quota-check", quota_check, ["GET"]),
        (f"{repo}/fs-id-list", fs_id_list, ["GET"]),
        (f"{repo}/pack-fs", pack_fs, ["POST"]),
        (f"{repo}/recv-fs", recv_fs, ["POST"]),
        (f"{repo}/check-fs", _check(ObjectKind.FS), ["POST"]),
        (f"{repo}/check-blocks", _check(ObjectKind.BLOCK), ["POST"]),
        (f"{repo}/jwt-token", not_supported, ["GET"]),
    ]
    out: list[BaseRoute] = []
    for path, endpoint, methods in table:
        out.extend(_both(path, endpoint, methods))
    return out

