"""Preview hardening with real LibreOffice: no network, no data folder, one conversion, a cap."""

from __future__ import annotations

import io
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import docx
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_raw
import pytest
from PIL import Image
from starlette.testclient import TestClient

from sesamedisk.adapters.previews import office
from sesamedisk.adapters.previews.cache import FilePreviewCache
from sesamedisk.adapters.previews.renderer import LocalRenderer
from sesamedisk.bootstrap import build_deps
from sesamedisk.config import PreviewSettings, Settings
from sesamedisk.errors import Unavailable
from sesamedisk.ports.previews import MIB, CacheKey
from sesamedisk.services import accounts
from sesamedisk.web.app import build_app
from tests.integration.linked_documents import odt_linking
from tests.integration.test_previews import _get, _upload
from tests.plugins.app import PASSWORD, App
from tests.plugins.peers import require_peer

ALICE = "alice@example.com"
NETWORK_WARNING = "cannot be cut off from the network"

def _png(width: int = 40, height: int = 40, noise: bool = False) -> bytes:
    image = (Image.frombytes("RGB", (width, height), os.urandom(width * height * 3)) if noise
             else Image.new("RGB", (width, height), (0, 160, 60)))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _docx(text: str) -> bytes:
    document = docx.Document()
    document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _images_in(pdf: Path) -> int:
    document = pdfium.PdfDocument(str(pdf))
    try:
        return sum(len(list(page.get_objects(filter=[pdfium_raw.FPDF_PAGEOBJ_IMAGE])))
                   for page in document)
    finally:
        document.close()


class _Recorder(BaseHTTPRequestHandler):
    """Answers every request with a PNG and records it on the server."""

    server: _ProbeServer

    def _answer(self) -> None:
        self.server.requests.append(f"{self.command} {self.path}")
        body = _png()
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self) -> None:
        """Answer a GET."""
        self._answer()

    def do_HEAD(self) -> None:
        """Answer a HEAD."""
        self._answer()

    def do_OPTIONS(self) -> None:
        """Answer an OPTIONS (LibreOffice asks first)."""
        self._answer()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


class _ProbeServer(ThreadingHTTPServer):
    requests: list[str]


@pytest.fixture
def probe_server() -> Iterator[_ProbeServer]:
    """An HTTP server on 127.0.0.1 that records who asked for what."""
    server = _ProbeServer(("127.0.0.1", 0), _Recorder)
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _require_sandbox(hides_files: bool = False) -> None:
    require_peer(_has_soffice(), "LibreOffice (scripts/install-test-deps.sh)")
    sandbox = office.current_sandbox()
    require_peer(sandbox is not None and (sandbox.hides_files or not hides_files),
                 "util-linux unshare with user, network and mount namespaces")


def _has_soffice() -> bool:
    try:
        office.soffice_binary()
    except Unavailable:
        return False
    return True


def _library(app: App) -> tuple[dict[str, str], str]:
    alice = app.login(ALICE)
    return alice, str(app.create_library(alice)["repo_id"])


def _renderer(app: App) -> LocalRenderer:
    assert app.deps.previews is not None
    renderer = app.deps.previews.renderer
    assert isinstance(renderer, LocalRenderer)
    return renderer


def _cache(app: App) -> FilePreviewCache:
    assert app.deps.previews is not None
    cache = app.deps.previews.cache
    assert isinstance(cache, FilePreviewCache)
    return cache


@contextmanager
def _app_with(database_url: str, data: Path, previews: PreviewSettings) -> Iterator[App]:
    """The app like the `app` fixture, with these [previews] settings."""
    settings = Settings(data=data, database_url=database_url, previews=previews)
    deps = build_deps(settings)
    accounts.create_user(deps, None, email=ALICE, password=PASSWORD)
    try:
        application = build_app(deps, max_block_bytes=settings.max_block_bytes)
        with TestClient(application, raise_server_exceptions=False) as client:
            yield App(client=client, deps=deps, data=data)
    finally:
        deps.close()


def test_a_linked_picture_is_not_fetched_during_conversion(
        app: App, probe_server: _ProbeServer, tmp_path: Path) -> None:
    _require_sandbox()
    alice, repo = _library(app)
    url = f"http://127.0.0.1:{probe_server.server_address[1]}/probe.png"
    document = odt_linking([url])
    _upload(app, alice, repo, "/linked.odt", document)
    info = _get(app, alice, repo, "preview", p="/linked.odt")
    assert info.status_code == 200, info.text
    assert info.json() == {"kind": "pdf", "pages": 1}
    assert probe_server.requests == [], "the conversion reached the network"

    # Control: the same conversion with isolation off does fetch the picture.
    source = tmp_path / "linked.odt"
    source.write_bytes(document)
    pdf = office.to_pdf(source, tmp_path, 60, isolation="off")
    assert any(request.endswith(" /probe.png") for request in probe_server.requests)
    assert _images_in(pdf) == 1


def test_a_conversion_cannot_read_the_data_folder(app: App, tmp_path: Path) -> None:
    _require_sandbox(hides_files=True)
    alice, repo = _library(app)
    planted = app.data / "planted.png"
    planted.write_bytes(_png())
    document = odt_linking([planted.as_uri()])
    file_id = _upload(app, alice, repo, "/peek.odt", document)
    assert _get(app, alice, repo, "preview", p="/peek.odt").status_code == 200
    cached_pdf = app.data / "preview-cache" / repo / file_id[:2] / file_id / "document.pdf"
    assert _images_in(cached_pdf) == 0, "the conversion read a file of the data folder"

    source = tmp_path / "peek.odt"
    source.write_bytes(document)
    assert _images_in(office.to_pdf(source, tmp_path, 60, isolation="off")) == 1, \
        "control: without the sandbox LibreOffice embeds the linked file"


@pytest.fixture
def broken_unshare(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An `unshare` first on PATH that fails as it does where user namespaces are off."""
    folder = tmp_path / "bin"
    folder.mkdir()
    fake = folder / "unshare"
    fake.write_text("#!/bin/sh\necho 'unshare: unshare failed: Operation not permitted' >&2\n"
                    "exit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ.get('PATH', '')}")


@pytest.mark.usefixtures("broken_unshare")
def test_required_isolation_refuses_office_previews_without_a_sandbox(
        database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    require_peer(_has_soffice(), "LibreOffice")
    caplog.set_level(logging.WARNING)
    with _app_with(database_url, tmp_path / "data",
                   PreviewSettings(office_network_isolation="required")) as app:
        alice, repo = _library(app)
        _upload(app, alice, repo, "/report.docx", _docx("quarterly"))
        response = _get(app, alice, repo, "preview", p="/report.docx")
        assert response.status_code == 503, response.text
        assert "without network access" in response.json()["error_msg"]
        assert not (app.data / "preview-cache" / repo).exists()
    assert sum(NETWORK_WARNING in record.getMessage() for record in caplog.records) == 1


@pytest.mark.usefixtures("broken_unshare")
def test_best_effort_converts_without_a_sandbox_and_warns_once(
        database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    require_peer(_has_soffice(), "LibreOffice")
    caplog.set_level(logging.WARNING)
    with _app_with(database_url, tmp_path / "data", PreviewSettings()) as app:
        alice, repo = _library(app)
        for name in ("one", "two"):
            _upload(app, alice, repo, f"/{name}.docx", _docx(name))
            response = _get(app, alice, repo, "preview", p=f"/{name}.docx")
            assert response.json() == {"kind": "pdf", "pages": 1}
        assert _renderer(app).office_conversions == 2
    assert sum(NETWORK_WARNING in record.getMessage() for record in caplog.records) == 1


def test_concurrent_previews_of_one_document_convert_once(app: App) -> None:
    _require_sandbox()
    alice, repo = _library(app)
    _upload(app, alice, repo, "/same.docx", _docx("one conversion"))
    start = threading.Barrier(3)
    answers: list[Any] = []

    def ask(what: str, params: dict[str, Any]) -> None:
        start.wait()
        answers.append(_get(app, alice, repo, what, p="/same.docx", **params))

    threads = [threading.Thread(target=ask, args=("preview", {})),
               threading.Thread(target=ask, args=("preview/page", {"n": 1})),
               threading.Thread(target=ask, args=("thumbnail", {"size": 256}))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert sorted(answer.status_code for answer in answers) == [200, 200, 200]
    assert _renderer(app).office_conversions == 1, "LibreOffice ran more than once"
    assert not any((app.data / "preview-tmp").iterdir()), "scratch folders are removed"


def test_an_entry_evicted_before_it_is_opened_is_converted_again(
        app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    _require_sandbox()
    alice, repo = _library(app)
    _upload(app, alice, repo, "/report.docx", _docx("evicted"))
    assert _get(app, alice, repo, "preview", p="/report.docx").status_code == 200
    cache = _cache(app)
    found = cache.path_of

    def evicted_right_after_the_check(key: CacheKey) -> Path | None:
        path = found(key)
        if path is not None:
            path.unlink()  # what an eviction by another request does in this window
        return path

    monkeypatch.setattr(cache, "path_of", evicted_right_after_the_check)
    page = _get(app, alice, repo, "preview/page", p="/report.docx", n=1)
    assert page.status_code == 200, page.text
    assert page.headers["content-type"] == "image/png"
    assert _renderer(app).office_conversions == 2


def test_the_cache_stays_under_its_cap(database_url: str, tmp_path: Path) -> None:
    with _app_with(database_url, tmp_path / "data", PreviewSettings(cache_max_mb=1)) as app:
        cache = _cache(app)
        assert cache.max_bytes == MIB
        alice, repo = _library(app)
        for number in range(6):
            _upload(app, alice, repo, f"/noise-{number}.bmp",
                    _bmp_of(_png(400, 300, noise=True)))
            response = _get(app, alice, repo, "preview/image", p=f"/noise-{number}.bmp")
            assert response.status_code == 200, response.text
            on_disk = sum(path.stat().st_size for path in cache.root.rglob("*")
                          if path.is_file())
            assert on_disk <= MIB
        assert cache.total_bytes() == on_disk
        first = _get(app, alice, repo, "preview/image", p="/noise-0.bmp")
        assert first.status_code == 200, "an evicted render is made again"


def _bmp_of(png: bytes) -> bytes:
    out = io.BytesIO()
    with Image.open(io.BytesIO(png)) as image:
        image.save(out, format="BMP")
    return out.getvalue()
