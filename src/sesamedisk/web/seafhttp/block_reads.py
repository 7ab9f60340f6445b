"""Raw block reads under /seafhttp for mobile apps and SeaDrive (spec §10.2, §10.5).

- `GET /seafhttp/blks/<token>/<block_id>`: one block as stored (still encrypted in an
  encrypted library), streamed; the token comes from api2's block download-link and is
  bound to one file: a block of another file or library is refused (403), as is a used
  one-time, expired or unknown token.
- `GET /seafhttp/repo/<id>/block-map/<file_id>`: JSON array of the stored size of each of
  the file's blocks, in order (404 for a file not stored in the library).
- `GET /seafhttp/accessible-repos/?repo_id=<id>`: the libraries the token's user can reach,
  as the Seafile fileserver lists them: [{"version", "id", "head_commit_id", "name",
  "mtime", "permission", "type", "owner"}]; `type` is "repo" for a library the user owns.

The last two take the repo token of `repo_id`, as `Seafile-Repo-Token` or, as newer
fileservers accept, `Authorization: Token <repo token>`.
"""

from __future__ import annotations

from collections.abc import Iterator

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from sesamedisk.domain.access import library_permission
from sesamedisk.ports.deps import Deps
from sesamedisk.ports.objects import ObjectKind, PieceReads
from sesamedisk.services import client_reads, libraries, sync
from sesamedisk.web.requests import deps_of
from sesamedisk.web.responses import Chunk, OneBlock, streamed
from sesamedisk.web.seafhttp.routes import repo_token

READ_BYTES = 1024 * 1024
"""How much of a block one read hands to the response."""


async def _session(request: Request, library_id: str) -> sync.SyncSession:
    return await run_in_threadpool(sync.open_session, deps_of(request),
                                   repo_token(request, authorization=True), library_id)


def _open_block(deps: Deps, grant: client_reads.BlockGrant) -> tuple[int, Iterator[Chunk]]:
    """The block's stored size and its bytes, read (and checked) while they are sent.

    A store that hands out block pieces answers both with one lookup.
    """
    store = deps.objects
    if isinstance(store, PieceReads):
        block = store.open_block_pieces(grant.library_id, grant.block_id)
        return block.size, OneBlock(block)
    size = store.size(ObjectKind.BLOCK, grant.library_id, grant.block_id)
    stream = store.open_read(ObjectKind.BLOCK, grant.library_id, grant.block_id)

    def chunks() -> Iterator[bytes]:
        with stream:
            while chunk := stream.read(READ_BYTES):
                yield chunk

    return size, chunks()


async def block(request: Request) -> Response:
    """GET /seafhttp/blks/<token>/<block_id>: the stored bytes of one block of the link's file."""
    deps = deps_of(request)
    grant = await run_in_threadpool(client_reads.redeem_block_link, deps,
                                    request.path_params["token"],
                                    request.path_params["block_id"])
    size, chunks = await run_in_threadpool(_open_block, deps, grant)
    return streamed(request, chunks, headers={"content-length": str(size)})


async def block_map(request: Request) -> Response:
    """GET /seafhttp/repo/<id>/block-map/<file_id>: stored block sizes of a file."""
    session = await _session(request, request.path_params["repo_id"])
    sizes = await run_in_threadpool(client_reads.block_map, deps_of(request), session,
                                    request.path_params["file_id"])
    return JSONResponse(sizes)


async def accessible_repos(request: Request) -> Response:
    """GET /seafhttp/accessible-repos/?repo_id=: the libraries the token's user can reach."""
    session = await _session(request, request.query_params.get("repo_id", ""))
    user = session.user
    views = await run_in_threadpool(libraries.list_libraries, deps_of(request), user)
    return JSONResponse([
        {"version": 1, "id": v.library.id, "head_commit_id": v.library.head,
         "name": v.library.name, "mtime": v.library.updated_at,
         "permission": library_permission(user, v.library).value,
         "type": "repo" if v.library.owner_id == user.id else "srepo", "owner": v.owner_email}
        for v in views])


def routes() -> list[BaseRoute]:
    """Every route of this module (the repo-token ones with and without a trailing slash)."""
    out: list[BaseRoute] = [Route("/seafhttp/blks/{token}/{block_id}", block, methods=["GET"])]
    for path, endpoint in (("/seafhttp/repo/{repo_id}/block-map/{file_id}", block_map),
                           ("/seafhttp/accessible-repos", accessible_repos)):
        out.append(Route(path, endpoint, methods=["GET"]))
        out.append(Route(path + "/", endpoint, methods=["GET"]))
    return out
