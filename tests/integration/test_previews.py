"""Previews over /api/v1 with real files: Pillow, pypdfium2, Pygments, markdown-it, LibreOffice."""

from __future__ import annotations

import io
import shutil
import time
import zipfile
from pathlib import Path
from typing import Any

import docx
import openpyxl
import pptx
import psutil
import pytest
from docx.enum.text import WD_BREAK
from PIL import Image

from sesamedisk.adapters.previews import office
from sesamedisk.errors import Unavailable
from tests.plugins.app import App
from tests.plugins.peers import require_peer

ALICE, BOB = "alice@example.com", "bob@example.com"
SECRET = "SECRET-PLAINTEXT-7f3a"
EXIF_ORIENTATION = 0x0112
ROTATED_90 = 6


def _upload(app: App, headers: dict[str, str], repo: str, path: str, data: bytes) -> str:
    response = app.client.put(f"/api/v1/repos/{repo}/file", params={"p": path},
                              content=data, headers=headers)
    assert response.status_code == 201, response.text
    file_id: str = response.json()["id"]
    return file_id


def _get(app: App, headers: dict[str, str], repo: str, what: str, **params: Any) -> Any:
    return app.client.get(f"/api/v1/repos/{repo}/{what}", params=params, headers=headers)


def _image(width: int, height: int, fmt: str, **save: Any) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 40, 40)).save(out, format=fmt, **save)
    return out.getvalue()


def _png_size(body: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(body)) as image:
        assert image.format == "PNG"
        image.load()
        return image.size


def _rotated_jpeg() -> bytes:
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = ROTATED_90
    return _image(600, 400, "JPEG", exif=exif.tobytes())


def _pdf(pages: int) -> bytes:
    sheets = [Image.new("RGB", (595, 842), (255, 255, 255 - 40 * n)) for n in range(pages)]
    out = io.BytesIO()
    sheets[0].save(out, format="PDF", save_all=True, append_images=sheets[1:])
    return out.getvalue()


def _docx() -> bytes:
    document = docx.Document()
    document.add_heading("Quarterly report", 0)
    document.add_paragraph(f"First page {SECRET}")
    document.add_paragraph().add_run().add_break(WD_BREAK.PAGE)
    document.add_paragraph("Second page")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _xlsx() -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["item", "amount"])
    sheet.append(["apples", 3])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _pptx() -> bytes:
    deck = pptx.Presentation()
    for title in ("One", "Two", "Three"):
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = title
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue()


ODT_CONTENT = """<?xml version="1.0" encoding="UTF-8"?>
<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"
 xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">
<office:body><office:text><text:p>An OpenDocument text</text:p></office:text></office:body>
</office:document-content>"""
ODT_MANIFEST = """<?xml version="1.0" encoding="UTF-8"?>
<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"
 manifest:version="1.2">
<manifest:file-entry manifest:full-path="/"
 manifest:media-type="application/vnd.oasis.opendocument.text"/>
<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>
</manifest:manifest>"""


def _odt() -> bytes:
    """A minimal OpenDocument text: the mimetype first and stored, then manifest and content."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.text",
                         compress_type=zipfile.ZIP_STORED)
        archive.writestr("META-INF/manifest.xml", ODT_MANIFEST, zipfile.ZIP_DEFLATED)
        archive.writestr("content.xml", ODT_CONTENT, zipfile.ZIP_DEFLATED)
    return out.getvalue()


def _cache_entry(app: App, repo: str, file_id: str, variant: str) -> Path:
    return app.data / "preview-cache" / repo / file_id[:2] / file_id / variant


def _plain_library(app: App) -> tuple[dict[str, str], str]:
    alice = app.login(ALICE)
    return alice, str(app.create_library(alice)["repo_id"])


def _require_libreoffice() -> None:
    require_peer(shutil.which("soffice") is not None,
                 "LibreOffice (scripts/install-test-deps.sh installs libreoffice-core ...)")


def test_images_thumbnails_and_browser_images(app: App) -> None:
    alice, repo = _plain_library(app)
    png_id = _upload(app, alice, repo, "/pics/wide.png", _image(800, 600, "PNG"))
    _upload(app, alice, repo, "/pics/phone.jpg", _rotated_jpeg())
    _upload(app, alice, repo, "/pics/scan.bmp", _image(300, 200, "BMP"))
    assert _get(app, alice, repo, "preview", p="/pics/wide.png").json() == {"kind": "image"}

    for size in (64, 128, 256, 512, 1024):
        response = _get(app, alice, repo, "thumbnail", p="/pics/wide.png", size=size)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "image/png"
        assert response.headers["cache-control"].startswith("private")
        width, height = _png_size(response.content)
        assert max(width, height) == min(size, 800)  # never enlarged
        assert abs(width / height - 800 / 600) < 0.02
    upright = _png_size(_get(app, alice, repo, "thumbnail", p="/pics/phone.jpg",
                             size=256).content)
    assert upright[1] == 256
    assert upright[0] < upright[1], "EXIF orientation 6 turns the 600x400 photo upright"

    as_is = _get(app, alice, repo, "preview/image", p="/pics/wide.png")
    assert as_is.headers["content-type"] == "image/png"
    assert as_is.content == _image(800, 600, "PNG")
    jpeg = _get(app, alice, repo, "preview/image", p="/pics/phone.jpg")
    assert jpeg.headers["content-type"] == "image/jpeg"
    converted = _get(app, alice, repo, "preview/image", p="/pics/scan.bmp")
    assert converted.headers["content-type"] == "image/png"
    assert _png_size(converted.content) == (300, 200)

    # The second request is answered from the cache: plant a marker in the cached entry.
    entry = _cache_entry(app, repo, png_id, "thumb-256.png")
    assert entry.is_file()
    marker = _image(7, 3, "PNG")
    entry.write_bytes(marker)
    assert _get(app, alice, repo, "thumbnail", p="/pics/wide.png", size=256).content == marker


def test_bad_thumbnail_requests_and_decompression_bombs(app: App) -> None:
    alice, repo = _plain_library(app)
    _upload(app, alice, repo, "/a.png", _image(100, 100, "PNG"))
    bomb = io.BytesIO()
    Image.new("1", (8000, 7000)).save(bomb, format="PNG")  # 56 MP in a few KB
    _upload(app, alice, repo, "/huge.png", bomb.getvalue())
    _upload(app, alice, repo, "/fake.png", b"not an image at all")
    assert _get(app, alice, repo, "thumbnail", p="/a.png", size=100).status_code == 400
    assert _get(app, alice, repo, "thumbnail", p="/a.png", size="big").status_code == 400
    assert _get(app, alice, repo, "thumbnail", p="/missing.png").status_code == 404
    assert _get(app, alice, repo, "thumbnail", p="/huge.png", size=64).status_code == 413
    assert _get(app, alice, repo, "thumbnail", p="/fake.png", size=64).status_code == 400
    response = _get(app, alice, repo, "preview/page", p="/a.png", n=1)
    assert response.status_code == 400
    assert response.json()["error_msg"] == "no preview for this type"


def test_text_code_and_markdown(app: App) -> None:
    alice, repo = _plain_library(app)
    _upload(app, alice, repo, "/code.py", b"def greet(name):\n    return f'hi {name}' < 3\n")
    _upload(app, alice, repo, "/notes.md", b"# Title\n\nSome *text*.\n\n"
            b"<script>alert(1)</script>\n\n[bad](javascript:alert(1)) [good](https://x.org)\n")
    _upload(app, alice, repo, "/LICENSE", b"Plain words without an extension\n")
    _upload(app, alice, repo, "/blob.dat", b"\x00\x01\x02binary\xff")
    _upload(app, alice, repo, "/big.txt", b"0123456789abcde\n" * 70_000)

    code = _get(app, alice, repo, "preview", p="/code.py").json()
    assert code["kind"] == "text"
    assert '<span class="k">def</span>' in code["html"]
    assert "<span class=\"o\">&lt;</span>" in code["html"]
    markdown = _get(app, alice, repo, "preview", p="/notes.md").json()
    assert markdown["kind"] == "markdown"
    assert "<h1>Title</h1>" in markdown["html"]
    assert "<em>text</em>" in markdown["html"]
    assert "<script>" not in markdown["html"]
    assert "&lt;script&gt;" in markdown["html"]
    assert "javascript:" not in markdown["html"].replace("[bad](javascript:", "")
    assert 'href="https://x.org"' in markdown["html"]
    plain = _get(app, alice, repo, "preview", p="/LICENSE").json()
    assert plain["kind"] == "text"
    assert "Plain words" in plain["html"]
    assert _get(app, alice, repo, "preview", p="/blob.dat").json() == {"kind": "none"}
    big = _get(app, alice, repo, "preview", p="/big.txt").json()
    assert big["truncated"] is True
    assert big["html"].count("0123456789abcde") == 1024 * 1024 // 16
    assert _get(app, alice, repo, "thumbnail", p="/code.py", size=64).status_code == 400


def test_pdf_pages_and_thumbnails(app: App) -> None:
    alice, repo = _plain_library(app)
    file_id = _upload(app, alice, repo, "/doc.pdf", _pdf(3))
    _upload(app, alice, repo, "/no-extension", _pdf(1))
    assert _get(app, alice, repo, "preview", p="/doc.pdf").json() == {"kind": "pdf", "pages": 3}
    assert _get(app, alice, repo, "preview", p="/no-extension").json() == {
        "kind": "pdf", "pages": 1}
    page = _get(app, alice, repo, "preview/page", p="/doc.pdf", n=2)
    assert page.status_code == 200
    assert page.headers["content-type"] == "image/png"
    width, height = _png_size(page.content)
    assert height == 1600
    assert abs(width / height - 595 / 842) < 0.01
    assert _cache_entry(app, repo, file_id, "page-2-1600.png").is_file()
    assert max(_png_size(_get(app, alice, repo, "thumbnail", p="/doc.pdf",
                              size=128).content)) == 128
    assert _get(app, alice, repo, "preview/page", p="/doc.pdf", n=4).status_code == 404
    assert _get(app, alice, repo, "preview/page", p="/doc.pdf", n=0).status_code == 400
    assert _get(app, alice, repo, "preview/image", p="/doc.pdf").status_code == 400


def test_office_documents_convert_once_and_are_cached(app: App) -> None:
    _require_libreoffice()
    alice, repo = _plain_library(app)
    documents = {"/report.docx": (_docx(), 2), "/sheet.xlsx": (_xlsx(), 1),
                 "/slides.pptx": (_pptx(), 3), "/letter.odt": (_odt(), 1)}
    ids = {path: _upload(app, alice, repo, path, data) for path, (data, _) in documents.items()}
    for path, (_, pages) in documents.items():
        info = _get(app, alice, repo, "preview", p=path)
        assert info.status_code == 200, (path, info.text)
        assert info.json() == {"kind": "pdf", "pages": pages}, path
        assert _cache_entry(app, repo, ids[path], "document.pdf").is_file(), path
    started = time.monotonic()
    page = _get(app, alice, repo, "preview/page", p="/report.docx", n=2)
    thumb = _get(app, alice, repo, "thumbnail", p="/slides.pptx", size=256)
    assert time.monotonic() - started < 1.0, "the cached PDF is rendered without LibreOffice"
    assert page.status_code == 200
    assert _png_size(page.content)[1] == 1600
    width, height = _png_size(thumb.content)
    assert max(width, height) == 256
    assert width > height, "slides are landscape"
    assert not any((app.data / "preview-tmp").iterdir()), "scratch folders are removed"


def test_other_users_cannot_preview(app: App) -> None:
    alice, repo = _plain_library(app)
    bob = app.login(BOB)
    _upload(app, alice, repo, "/a.png", _image(50, 50, "PNG"))
    for what, params in (("preview", {}), ("preview/page", {"n": 1}),
                         ("thumbnail", {"size": 64}), ("preview/image", {})):
        response = _get(app, bob, repo, what, p="/a.png", **params)
        assert response.status_code in (403, 404), (what, response.text)
    assert app.client.get(f"/api/v1/repos/{repo}/preview", params={"p": "/a.png"}) \
        .status_code == 401


def _files_under(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.is_file()]


@pytest.mark.slow
def test_encrypted_library_previews_leave_no_plaintext(app: App) -> None:
    _require_libreoffice()
    alice = app.login(ALICE)
    repo = str(app.create_library(alice, name="vault", passwd="sesame")["repo_id"])
    assert _get(app, alice, repo, "preview", p="/x.md").status_code == 440
    assert _get(app, alice, repo, "thumbnail", p="/x.png", size=64).status_code == 440
    unlock = app.client.post(f"/api/v1/repos/{repo}/unlock", json={"password": "sesame"},
                             headers=alice)
    assert unlock.status_code == 204, unlock.text
    _upload(app, alice, repo, "/secret.md", f"# {SECRET}\n".encode())
    _upload(app, alice, repo, "/secret.png", _image(640, 480, "PNG"))
    _upload(app, alice, repo, "/secret.pdf", _pdf(2))
    _upload(app, alice, repo, "/secret.docx", _docx())

    markdown = _get(app, alice, repo, "preview", p="/secret.md")
    assert SECRET in markdown.json()["html"]
    assert markdown.headers["cache-control"] == "private, no-store"
    thumb = _get(app, alice, repo, "thumbnail", p="/secret.png", size=128)
    assert _png_size(thumb.content) == (128, 96)
    assert thumb.headers["cache-control"] == "private, no-store"
    assert _get(app, alice, repo, "preview/image", p="/secret.png").content == _image(
        640, 480, "PNG")
    assert _get(app, alice, repo, "preview", p="/secret.pdf").json()["pages"] == 2
    assert _png_size(_get(app, alice, repo, "preview/page", p="/secret.pdf", n=2).content)[1] \
        == 1600
    page = _get(app, alice, repo, "preview/page", p="/secret.docx", n=1)
    assert page.status_code == 200, page.text
    assert _png_size(page.content)[1] == 1600

    assert not (app.data / "preview-cache" / repo).exists()
    leftovers = _files_under(app.data / "preview-cache") + _files_under(app.data / "preview-tmp")
    assert leftovers == []
    for path in _files_under(app.data):
        assert SECRET.encode() not in path.read_bytes(), path


def test_a_conversion_over_its_timeout_is_killed(tmp_path: Path) -> None:
    _require_libreoffice()
    source = tmp_path / "source.docx"
    source.write_bytes(_docx())
    with pytest.raises(Unavailable, match="longer than"):
        office.to_pdf(source, tmp_path, timeout=0.2)
    profile = str(tmp_path / "lo-profile")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        alive = [p for p in psutil.process_iter(["cmdline"])
                 if any(profile in part for part in (p.info["cmdline"] or []))]
        if not alive:
            break
        time.sleep(0.1)
    assert alive == [], "soffice and its children are killed with their process group"
    assert not (tmp_path / "lo-profile").exists()
    assert not (tmp_path / "source.pdf").exists()
