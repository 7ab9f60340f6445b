"""api2 links of the mobile apps' block-level uploads (spec §10.4): upload/update-blks-link.

- `GET /api2/repos/<id>/upload-blks-link/?p=<folder>` -> "<base>/seafhttp/upload-blks-api/<token>"
  (a JSON string).
- `POST` the same with form `blklist=id1,id2,...` -> {"rawblksurl":
  "<base>/seafhttp/upload-raw-blks-api/<token>", "commiturl":
  "<base>/seafhttp/upload-blks-api/<token>?commitonly=true&ret-json=true", "blklist": [the
  listed ids this library does not store yet, in order]}.
- `GET|POST …/update-blks-link/?p=<folder>`: the same with `update-blks-api` (the commit
  names `target_file`, a file in that folder).

Write permission is needed (403) and the folder must exist (404). An encrypted library
need not be unlocked: the apps encrypt the blocks themselves. Links last an hour.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from sesamedisk.services import block_uploads, transfer_links
from sesamedisk.services.block_uploads import BlockIds
from sesamedisk.web.auth import current_user
from sesamedisk.web.requests import deps_of, form_text, read_small_form, seafhttp_url

MAX_BLKLIST_FORM_BYTES = block_uploads.MAX_BLOCK_LIST_BYTES
"""Largest form body of the POST variants (the comma-separated block ids)."""


async def _blklist(request: Request) -> BlockIds:
    """The block ids of the form's `blklist` (comma-separated; none when absent)."""
    form = await read_small_form(request, limit=MAX_BLKLIST_FORM_BYTES, over_limit=413,
                                 require_length=True)
    raw = form_text(form, "blklist", "") or ""
    return block_uploads.block_ids([part.strip() for part in raw.split(",") if part.strip()])


async def _links(request: Request, op: str, commit_api: str) -> Response:
    user = await current_user(request)
    wanted = await _blklist(request) if request.method == "POST" else None
    deps, library_id = deps_of(request), request.path_params["repo_id"]
    folder = request.query_params.get("p") or "/"
    token, _ = await run_in_threadpool(lambda: transfer_links.issue_link(
        deps, user, library_id, op, folder, reuse=True))
    commit_url = seafhttp_url(request, f"{commit_api}/{token}")
    if wanted is None:
        return JSONResponse(commit_url)
    missing = await run_in_threadpool(block_uploads.missing_blocks, deps, user, library_id,
                                      wanted)
    return JSONResponse({"rawblksurl": seafhttp_url(request, f"upload-raw-blks-api/{token}"),
                         "commiturl": f"{commit_url}?commitonly=true&ret-json=true",
                         "blklist": missing})


async def upload_blocks_link(request: Request) -> Response:
    """GET|POST /api2/repos/<id>/upload-blks-link/?p=<folder>: block upload URLs."""
    return await _links(request, transfer_links.UPLOAD, "upload-blks-api")


async def update_blocks_link(request: Request) -> Response:
    """GET|POST /api2/repos/<id>/update-blks-link/?p=<folder>: block update URLs."""
    return await _links(request, transfer_links.UPDATE, "update-blks-api")


def routes() -> list[BaseRoute]:
    """Every route of this module, with and without the trailing slash."""
    repo = "/api2/repos/{repo_id}"
    out: list[BaseRoute] = []
    for kind, endpoint in (("upload-blks-link", upload_blocks_link),
                           ("update-blks-link", update_blocks_link)):
        for slash in ("/", ""):
            out.append(Route(f"{repo}/{kind}{slash}", endpoint, methods=["GET", "POST"]))
    return out
