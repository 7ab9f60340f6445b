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
Images carry a weak `ETag` of (file id, variant), never the file's own; an `If-None-Match`
naming it answers 304, decided from the file's entry without rendering when its name settles
the kind (web/conditional).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from sesamedisk.domain import crypto, paths
from sesamedisk.domain.records import Library, User
from sesamedisk.services import files, previews
from sesamedisk.services.preview_kinds import Kind, browser_media_type, kind_by_name
from sesamedisk.web import conditional
from sesamedisk.web.requests import deps_of, int_query, required_path
from sesamedisk.web.unlocks import open_library

PLAIN_CACHE = "private, max-age=300"
ENCRYPTED_CACHE = "private, no-store"


PAGED_KINDS = frozenset({Kind.PDF, Kind.OFFICE})


def _cache_control(encrypted: bool) -> str:
    return ENCRYPTED_CACHE if encrypted else PLAIN_CACHE


def _page_variant(number: int) -> str:
    return f"page-{number}-{previews.PAGE_LONGEST_SIDE}"


def _image_variant(as_is: bool) -> str:
    """The browser image: the file's bytes as they are, or converted to PNG."""
    return "image" if as_is else "image.png"


Revalidated = Response | conditional.EntityTag | None
"""What `_unchanged` found: a 304 to send, the tag If-None-Match did not name, or None."""


def _image_response(request: Request, rendered: previews.Rendered, variant: str,
                    compared: conditional.EntityTag | None) -> Response:
    """The image with its validators, or 304 when If-None-Match already names it.

    Preconditions already compared against this very tag before rendering are not compared
    again; a file changed meanwhile has another tag and is compared.
    """
    validators = conditional.Validators(conditional.render_etag(rendered.file_id, variant))
    cache_control = _cache_control(rendered.encrypted)
    if validators.etag != compared and conditional.is_not_modified(
            conditional.Preconditions.of(request.headers), validators):
        return conditional.not_modified(validators, cache_control)
    headers = {"cache-control": cache_control, "x-content-type-options": "nosniff",
               "etag": str(validators.etag)}
    if isinstance(rendered.body, bytes):
        return Response(rendered.body, media_type=rendered.media_type, headers=headers)
    if rendered.size is not None:
        headers["content-length"] = str(rendered.size)
    return StreamingResponse(rendered.body, media_type=rendered.media_type, headers=headers)


async def _unchanged(request: Request, opened: tuple[User, Library, crypto.FileKey | None],
                     kinds: frozenset[Kind], variant: Callable[[str], str]) -> Revalidated:
    """304 before any rendering when If-None-Match names this render of the file.

    Only when the file's name settles its kind among `kinds` (sniffing would read a block)
    and previews are configured: otherwise None, and the request renders as usual and is
    compared then. When the tag is not named, it is returned so that it is not compared again.
    """
    user, library, _ = opened
    path = required_path(request)
    name = paths.basename(path)
    if request.headers.get("if-none-match") is None or deps_of(request).previews is None \
            or kind_by_name(name) not in kinds:
        return None
    found = await run_in_threadpool(
        lambda: files.find_file(deps_of(request), user, library.id, path))
    validators = conditional.Validators(conditional.render_etag(found.dirent.id, variant(name)))
    if conditional.is_not_modified(conditional.Preconditions.of(request.headers), validators):
        return conditional.not_modified(validators, _cache_control(library.encrypted))
    return validators.etag


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
    opened = await open_library(request)
    user, library, key = opened
    number = int_query(request, "n", 1)
    checked = await _unchanged(request, opened, PAGED_KINDS,
                               lambda _name: _page_variant(number)) if number >= 1 else None
    if isinstance(checked, Response):
        return checked
    rendered = await run_in_threadpool(lambda: previews.page_png(
        deps_of(request), user, library.id, required_path(request), page=number, file_key=key))
    return _image_response(request, rendered, _page_variant(number), checked)


async def thumbnail(request: Request) -> Response:
    """GET /api/v1/repos/{id}/thumbnail?p=&size=: a PNG thumbnail."""
    opened = await open_library(request)
    user, library, key = opened
    size = int_query(request, "size", 256)
    variant = f"thumb-{size}"
    checked = await _unchanged(request, opened, PAGED_KINDS | {Kind.IMAGE},
                               lambda _name: variant) \
        if size in previews.THUMBNAIL_SIZES else None
    if isinstance(checked, Response):
        return checked
    rendered = await run_in_threadpool(lambda: previews.thumbnail_png(
        deps_of(request), user, library.id, required_path(request), size=size, file_key=key))
    return _image_response(request, rendered, variant, checked)


async def browser_image(request: Request) -> Response:
    """GET /api/v1/repos/{id}/preview/image?p=: the image in a format browsers show."""
    opened = await open_library(request)
    user, library, key = opened
    checked = await _unchanged(request, opened, frozenset({Kind.IMAGE}), lambda name: (
        _image_variant(as_is=browser_media_type(name) is not None)))
    if isinstance(checked, Response):
        return checked
    rendered = await run_in_threadpool(lambda: previews.image_for_browser(
        deps_of(request), user, library.id, required_path(request), file_key=key))
    return _image_response(request, rendered,
                           _image_variant(as_is=not isinstance(rendered.body, bytes)), checked)


def routes() -> list[BaseRoute]:
    """Every route of this module."""
    repo = "/api/v1/repos/{repo_id}"
    return [
        Route(f"{repo}/preview", preview, methods=["GET"]),
        Route(f"{repo}/preview/page", page, methods=["GET"]),
        Route(f"{repo}/preview/image", browser_image, methods=["GET"]),
        Route(f"{repo}/thumbnail", thumbnail, methods=["GET"]),
    ]
