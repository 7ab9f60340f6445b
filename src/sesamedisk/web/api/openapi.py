"""The OpenAPI 3.1 document of our JSON API (web/openapi.yaml), served as JSON.

- GET /api/v1/openapi.json -> 200 the document (no login needed; it holds no data)
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

import yaml
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

DOCUMENT_PATH = "/api/v1/openapi.json"


@functools.cache
def openapi_document() -> dict[str, Any]:
    """The document, read and parsed once per process."""
    text = resources.files("sesamedisk.web").joinpath("openapi.yaml").read_text("utf-8")
    document: dict[str, Any] = yaml.safe_load(text)
    return document


async def get_document(request: Request) -> Response:
    """GET /api/v1/openapi.json: the OpenAPI document of /api/v1."""
    return JSONResponse(openapi_document(), headers={"cache-control": "public, max-age=300"})


def routes() -> list[BaseRoute]:
    """The document's route."""
    return [Route(DOCUMENT_PATH, get_document, methods=["GET"])]
