"""Previews and thumbnails of images, PDFs, text and office documents.

- GET /api/v1/repos/{id}/preview?p= -> {"kind": "image"|"pdf"|"text"|"markdown"|"none",
  "pages"?: int (pdf and office documents), "html"?: str (text, markdown), "truncated"?: bool
  (text beyond 1 MiB is cut off)}
- GET /api/v1/repos/{id}/preview/page?p=&n=1 -> image/png of page n of a PDF or office
  document (office documents are converted by LibreOffice once and cached)
- GET /api/v1/repos/{id}/thumbnail?p=&size=256 -> image/png, longest side at most size
  (64, 128, 256, 512 or 1024) of an image or the first page of a PDF/office document
- GET /api/v1/repos/{id}/preview/image?p= -> the image for an <img>: PNG, JPEG, GIF and WebP
  as they are, other formats converted to PNG

A type without that preview -> 400 "no preview for this type"; a locked encrypted library
-> 440. Responses are `Cache-Control: private` (and `no-store` for encrypted libraries).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from sesamedisk.services import previews
from sesamedisk.web.requests import deps_of, int_query, required_path
from sesamedisk.web.unlocks import open_library

PLAIN_CACHE = "private, max-age=300"
ENCRYPTED_CACHE = "private, no-store"


def _image_response(rendered: previews.Rendered) -> Response:
    headers = {"cache-control": ENCRYPTED_CACHE if rendered.encrypted else PLAIN_CACHE,
               "x-content-type-options": "nosniff"}
    if isinstance(rendered.body, bytes):
        return Response(rendered.body, media_type=rendered.media_type, headers=headers)
    if rendered.size is not None:
        headers["content-length"] = str(rendered.size)
    return StreamingResponse(rendered.body, media_type=rendered.media_type, headers=headers)


async def preview(request: Request) -> Response:
    """GET /api/v1/repos/{id}/preview?p=: the kind of preview, pages or HTML."""
    user, library, key = await open_library(request)
    info = await run_in_threadpool(lambda: previews.preview_info(
        deps_of(request), user, library.id, required_path(request), file_key=key))
    body: dict[str, Any] = {k: v for k, v in asdict(info).items() if v is not None}
    if not info.truncated:
        body.pop("truncated")
    return JSONResponse(body, headers={
        "cache-control": ENCRYPTED_CACHE if library.encrypted else "private, no-cache"})


async def page(request: Request) -> Response:
    """GET /api/v1/repos/{id}/preview/page?p=&n=: page n (from 1) as PNG."""
    user, library, key = await open_library(request)
    number = int_query(request, "n", 1)
    rendered = await run_in_threadpool(lambda: previews.page_png(
        deps_of(request), user, library.id, required_path(request), page=number, file_key=key))
    return _image_response(rendered)


async def thumbnail(request: Request) -> Response:
    """GET /api/v1/repos/{id}/thumbnail?p=&size=: a PNG thumbnail."""
    user, library, key = await open_library(request)
    size = int_query(request, "size", 256)
    rendered = await run_in_threadpool(lambda: previews.thumbnail_png(
        deps_of(request), user, library.id, required_path(request), size=size, file_key=key))
    return _image_response(rendered)


async def browser_image(request: Request) -> Response:
    """GET /api/v1/repos/{id}/preview/image?p=: the image in a format browsers show."""
    user, library, key = await open_library(request)
    rendered = await run_in_threadpool(lambda: previews.image_for_browser(
        deps_of(request), user, library.id, required_path(request), file_key=key))
    return _image_response(rendered)


def routes() -> list[BaseRoute]:
    """Every route of this module."""
    repo = "/api/v1/repos/{repo_id}"
    return [
        Route(f"{repo}/preview", preview, methods=["GET"]),
        Route(f"{repo}/preview/page", page, methods=["GET"]),
        Route(f"{repo}/preview/image", browser_image, methods=["GET"]),
        Route(f"{repo}/thumbnail", thumbnail, methods=["GET"]),
    ]
