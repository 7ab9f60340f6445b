"""The OpenAPI document: it lists exactly the app's /api/v1 routes, and fuzzing it finds no 5xx."""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy
from PIL import Image
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.applications import Starlette
from starlette.routing import Route

from sesamedisk.services import accounts
from sesamedisk.web.api.openapi import DOCUMENT_PATH, openapi_document
from tests.plugins.app import PASSWORD, App

API_PREFIX = "/api/v1/"
HTTP_METHODS = frozenset({"get", "put", "post", "delete", "patch", "head", "options", "trace"})
ALICE, ADMIN = "alice@example.com", "root@example.com"
VAULT_PASSWORD = "vault password 1"
FRESH = "fresh-placeholder"
"""Stands for a path parameter the test creates just for one request (library, upload)."""


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


def _pdf() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (60, 80), (255, 255, 255)).save(out, "PDF")
    return out.getvalue()


SEED_FILES = {"/a.txt": b"hello\n", "/docs/readme.md": b"# Title\n\n*some* text\n",
              "/pic.png": _png(), "/doc.pdf": _pdf(), "/empty.bin": b""}
KNOWN_PATHS = [*SEED_FILES, "/", "/docs", "/gone.txt", "/docs/../a.txt"]
CHUNKS = {"bytes 0-9/10": b"0123456789", "bytes 0-4/10": b"01234", "bytes */10": b""}
"""Content-Range headers of a 10-byte upload and the bodies that fit them."""
TOO_BIG = 2**63
"""One more than the largest 64-bit database integer."""
NOT_ASCII_DIGIT = "\u00b2"
"""Superscript two: str.isdigit() accepts it, int() does not."""


def app_operations(application: Starlette) -> set[tuple[str, str]]:
    """(METHOD, path template) of every /api/v1 route the app answers (HEAD is implied)."""
    return {(method, route.path) for route in application.routes
            if isinstance(route, Route) and route.path.startswith(API_PREFIX)
            for method in (route.methods or set()) - {"HEAD"}}


def document_operations(document: dict[str, Any]) -> set[tuple[str, str]]:
    """(METHOD, path template) of every operation the document describes."""
    return {(method.upper(), path) for path, item in document["paths"].items()
            for method in item if method in HTTP_METHODS}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_document_lists_exactly_the_api_routes(app: App) -> None:
    """A route without documentation, or documentation without a route, fails here."""
    application = app.client.app
    assert isinstance(application, Starlette)
    in_app, documented = app_operations(application), document_operations(openapi_document())
    assert sorted(in_app - documented) == [], "routes missing from web/openapi.yaml"
    assert sorted(documented - in_app) == [], "documented operations without a route"
    assert len(in_app) > 30


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_document_is_served_as_json_without_login(app: App) -> None:
    """GET /api/v1/openapi.json answers the YAML file's content."""
    response = app.client.get(DOCUMENT_PATH)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    document = response.json()
    assert document["openapi"].startswith("3.1")
    assert document == openapi_document()
    assert "apiToken" in document["components"]["securitySchemes"]


@dataclass
class FuzzWorld:
    """A user with a plain and an encrypted library holding a few files and some history."""

    app: App
    user: dict[str, str]
    admin: dict[str, str]
    plain: str
    vault: str
    """Encrypted, and unlocked by the user's token."""
    others: list[str]
    """A library locked to this token, and one the user may not see."""
    commits: list[str]
    changed: bool = True

    def ensure_seed_files(self) -> None:
        """Put back any seed file an earlier request deleted, moved or reverted away."""
        if not self.changed:
            return
        self.changed = False
        for library, (path, content) in itertools.product((self.plain, self.vault),
                                                          SEED_FILES.items()):
            found = self.app.client.get(f"/api/v1/repos/{library}/file",
                                        params={"p": path}, headers=self.user)
            if found.status_code != 200 or found.content != content:
                self.app.client.post(f"/api/v1/repos/{library}/dir", params={"p": "/docs"},
                                     headers=self.user)
                stored = self.app.client.put(f"/api/v1/repos/{library}/file",
                                             params={"p": path}, content=content,
                                             headers=self.user)
                assert stored.status_code == 201, stored.text

    def fresh_library(self) -> str:
        """A new library for a request that deletes one."""
        return _new_library(self.app, self.user, name="doomed")

    def fresh_upload(self) -> str:
        """A new upload session of a 10-byte file in the plain library."""
        started = self.app.client.post(f"/api/v1/repos/{self.plain}/uploads",
                                       json={"path": "/upload.bin", "size": 10,
                                             "replace": True}, headers=self.user)
        assert started.status_code == 201, started.text
        upload_id: str = started.json()["id"]
        return upload_id

    def headers_for(self, case: schemathesis.Case) -> dict[str, str]:
        """Credentials: the admin's on /admin, a throwaway session's for logout."""
        if case.path.startswith("/api/v1/admin/"):
            return self.admin
        if case.path == "/api/v1/auth/logout":
            return self.app.login(ALICE)
        return self.user

    def prepare(self, case: schemathesis.Case) -> None:
        """Fill the placeholders the generation hooks chose and authenticate the case."""
        parameters = case.path_parameters or {}
        if case.method == "DELETE" and case.path == "/api/v1/repos/{repo_id}" \
                and parameters.get("repo_id") in (self.plain, self.vault, self.others[0]):
            parameters["repo_id"] = self.fresh_library()
        if parameters.get("upload_id") == FRESH:
            parameters["upload_id"] = self.fresh_upload()
        chunk = CHUNKS.get((case.headers or {}).get("Content-Range", ""))
        if case.method == "PUT" and chunk is not None:
            case.body = chunk
        case.headers = {**(case.headers or {}), **self.headers_for(case)}


def _new_library(app: App, headers: dict[str, str], **body: str) -> str:
    """Create a library over the API; its id."""
    made = app.client.post("/api/v1/repos", json=body, headers=headers)
    assert made.status_code == 201, made.text
    library_id: str = made.json()["id"]
    return library_id


def _seed(app: App) -> FuzzWorld:
    """An admin, libraries of every kind, seed files and some history (edits, a deletion)."""
    accounts.create_user(app.deps, None, email=ADMIN, password=PASSWORD, is_admin=True)
    user, admin = app.login(ALICE), app.login(ADMIN)
    plain = _new_library(app, user, name="plain")
    vault = _new_library(app, user, name="vault", password=VAULT_PASSWORD)
    unlocked = app.client.post(f"/api/v1/repos/{vault}/unlock",
                               json={"password": VAULT_PASSWORD}, headers=user)
    assert unlocked.status_code == 204, unlocked.text
    others = [_new_library(app, user, name="locked", password="another secret"),
              _new_library(app, app.login("bob@example.com"), name="bobs")]
    world = FuzzWorld(app=app, user=user, admin=admin, plain=plain, vault=vault,
                      others=others, commits=[])
    world.ensure_seed_files()
    app.client.put(f"/api/v1/repos/{plain}/file", params={"p": "/a.txt"}, content=b"v2\n",
                   headers=user)
    app.client.put(f"/api/v1/repos/{plain}/file", params={"p": "/gone.txt"}, content=b"x",
                   headers=user)
    app.client.delete(f"/api/v1/repos/{plain}/file", params={"p": "/gone.txt"}, headers=user)
    world.changed = True
    world.ensure_seed_files()
    for library in (plain, vault):
        commits = app.client.get(f"/api/v1/repos/{library}/commits", headers=user)
        world.commits += [c["id"] for c in commits.json()]
    assert len(world.commits) >= 10
    return world


def _known_values(world: FuzzWorld) -> dict[str, list[Any]]:
    """Values that exist, by parameter or body field name."""
    return {
        # path parameters
        "repo_id": [world.plain, world.plain, world.vault, *world.others],
        "commit_id": world.commits,
        "upload_id": [FRESH, FRESH],
        # query parameters
        "p": [*KNOWN_PATHS, "/upload.bin"], "size": [10, 256, 0, TOO_BIG, NOT_ASCII_DIGIT],
        "n": [1, 2, TOO_BIG, NOT_ASCII_DIGIT], "limit": [2, TOO_BIG, NOT_ASCII_DIGIT],
        "offset": [1, TOO_BIG, NOT_ASCII_DIGIT], "inline": ["1"],
        # headers
        "Content-Range": list(CHUNKS), "Range": ["bytes=0-2", "bytes=-3", "bytes=99-"],
        # JSON body fields
        "path": KNOWN_PATHS, "dst_dir": ["/", "/docs"], "new_name": ["renamed.txt"],
        "paths": [["/a.txt"], ["/docs", "/pic.png"]], "email": [ALICE],
        "password": [PASSWORD, VAULT_PASSWORD], "replace": [True],
        "mtime": [1_700_000_000, TOO_BIG],
    }


def _register_hooks(schema: schemathesis.BaseSchema, world: FuzzWorld) -> None:
    """Steer generated ids, paths and fields towards things that exist, often."""
    known = _known_values(world)

    def steer(_ctx: schemathesis.HookContext, generated: Any) -> SearchStrategy[Any]:
        if not isinstance(generated, dict):
            return st.just(generated)
        return st.fixed_dictionaries({
            key: st.sampled_from([value, *known.get(key, [])])
            for key, value in generated.items()})

    def steer_query(ctx: schemathesis.HookContext, generated: Any) -> SearchStrategy[Any]:
        """Like `steer`, and optional parameters left out get known values too."""
        if not isinstance(generated, dict):
            return st.just(generated)
        absent = [p.name for p in ctx.operation.query if p.name not in generated]
        return st.fixed_dictionaries(
            {key: st.sampled_from([value, *known.get(key, [])])
             for key, value in generated.items()},
            optional={name: st.sampled_from(known[name]) for name in absent if name in known})

    for name in ("flatmap_path_parameters", "flatmap_headers", "flatmap_body"):
        schema.hooks.register_hook_with_name(steer, name)
    schema.hooks.register_hook_with_name(steer_query, "flatmap_query")


OPERATIONS = sorted(document_operations(openapi_document()), key=lambda op: (op[1], op[0]))
FUZZ_SETTINGS = settings(max_examples=25, deadline=None, derandomize=True, database=None,
                         phases=[Phase.explicit, Phase.generate],
                         suppress_health_check=list(HealthCheck))
"""Bounded and seeded: the same cases on every run, a few seconds per operation."""
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
"""No 5xx, and every answer is one the document describes (so it cannot go stale)."""


def _cases(operation: Any) -> SearchStrategy[schemathesis.Case]:
    """Valid requests and (where the operation takes any input) invalid ones."""
    strategies = [operation.as_strategy(GenerationMode.POSITIVE)]
    if operation.path_parameters or operation.query or operation.headers or operation.body:
        strategies.append(operation.as_strategy(GenerationMode.NEGATIVE))
    return st.one_of(strategies)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(("method", "path"), OPERATIONS,
                         ids=[f"{method} {path}" for method, path in OPERATIONS])
def test_no_operation_answers_a_server_error(app: App, method: str, path: str) -> None:
    """Valid and invalid requests to the operation get a 2xx or 4xx, never a 5xx."""
    world = _seed(app)
    schema = schemathesis.openapi.from_asgi(DOCUMENT_PATH, app.client.app)
    schema.config.generation.update(with_security_parameters=False)
    _register_hooks(schema, world)
    operation = schema[path][method]

    @FUZZ_SETTINGS
    @given(case=_cases(operation))
    def request_never_fails_on_the_server(case: schemathesis.Case) -> None:
        world.ensure_seed_files()
        world.prepare(case)
        response = case.call()
        world.changed = case.method != "GET" and response.status_code < 300
        case.validate_response(response, checks=CHECKS)

    request_never_fails_on_the_server()


def _resolve(document: dict[str, Any], node: Any) -> Any:
    """`node`, or what its `$ref` points at."""
    while isinstance(node, dict) and "$ref" in node:
        for part in node["$ref"][2:].split("/"):
            document = document[part]
        node = document
    return node


def _query_parameters(document: dict[str, Any], path: str,
                      method: str) -> list[dict[str, Any]]:
    """The query parameters of an operation, its path's shared ones included."""
    item = document["paths"][path]
    every = [*item.get("parameters", []), *item[method].get("parameters", [])]
    return [p for p in (_resolve(document, p) for p in every) if p["in"] == "query"]


def integer_inputs(document: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(METHOD, path, "query" or "body", name) of every integer input the document has."""
    found = []
    for method, path in document_operations(document):
        for parameter in _query_parameters(document, path, method.lower()):
            if "integer" in str(parameter["schema"]):
                found.append((method, path, "query", parameter["name"]))
        body = _resolve(document, document["paths"][path][method.lower()].get("requestBody", {}))
        schema = body.get("content", {}).get("application/json", {}).get("schema", {})
        for name, field in _resolve(document, schema).get("properties", {}).items():
            if "integer" in str(field.get("type")):
                found.append((method, path, "body", name))
    return sorted(found)


BASELINE = {"p": "/a.txt", "size": 10, "path": "/big.bin"}
"""Valid values for the other required inputs of a boundary request."""


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("value", [TOO_BIG, NOT_ASCII_DIGIT, -1], ids=["2**63", "sup2", "neg"])
def test_integer_inputs_out_of_range_are_client_errors(app: App, value: object) -> None:
    """Every integer query parameter and JSON field: huge, odd or negative -> 4xx, not 5xx."""
    world = _seed(app)
    document = openapi_document()
    inputs = integer_inputs(document)
    assert ("GET", "/api/v1/repos/{repo_id}/uploads", "query", "size") in inputs
    server_errors = []
    for method, path, where, name in inputs:
        url = path.replace("{repo_id}", world.plain).replace("{upload_id}", world.fresh_upload())
        query = {q["name"]: BASELINE.get(q["name"], 1)
                 for q in _query_parameters(document, path, method.lower()) if q["required"]}
        body = {"path": BASELINE["path"], "size": BASELINE["size"]} if where == "body" else None
        (query if body is None else body)[name] = value
        response = app.client.request(method, url, params=query, json=body, headers=world.user)
        if response.status_code >= 500:
            server_errors.append(f"{method} {path} {query} {body}")
    assert server_errors == [], "\n".join(server_errors)


def _refs(node: Any) -> Iterator[str]:
    """Every `$ref` in a document."""
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def test_every_reference_resolves_and_operation_ids_are_unique() -> None:
    """A typo in a `$ref` or a copied operationId fails here, not in a client generator."""
    document = openapi_document()
    for ref in set(_refs(document)):
        assert ref.startswith("#/"), ref
        node: Any = document
        for part in ref[2:].split("/"):
            assert isinstance(node, dict), f"unresolved {ref}"
            assert part in node, f"unresolved {ref}"
            node = node[part]
    ids = [operation["operationId"] for item in document["paths"].values()
           for method, operation in item.items() if method in HTTP_METHODS]
    assert len(ids) == len(set(ids)) == len(OPERATIONS)
