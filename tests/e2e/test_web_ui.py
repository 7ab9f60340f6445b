"""The web UI in real headless Chromium against a real `sesame serve`.

A newcomer's journey (log in, library, drag-and-drop and button uploads, every preview kind,
rename, move, copy, delete and restore from trash, folder ZIP, an older snapshot), an encrypted
library behind its password, and a second user who must see and reach nothing of the first's.
Every step is screenshotted under test-artifacts/<test>/; any console error fails the test.
"""

from __future__ import annotations

import base64
import io
import random
import struct
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.plugins.browser import BrowserPage
from tests.plugins.server import SesameServer

USER = "newcomer@example.com"
OTHER = "stranger@example.com"
PASSWORD = "newcomer-Pa55word"
PREVIEW_TIMEOUT_MS = 90_000  # the first office preview starts LibreOffice
OpenPage = Callable[[str], BrowserPage]

# ----------------------------------------------------------------------------- sample files


def png(width: int = 96, height: int = 64) -> bytes:
    """An RGB gradient PNG."""
    rows = b"".join(
        b"\x00" + b"".join(bytes((x * 255 // width, y * 255 // height, 140)) for x in range(width))
        for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def pdf(pages: tuple[str, ...] = ("First page", "Second page")) -> bytes:
    """A valid PDF with one line of Helvetica text per page."""
    count = len(pages)
    font_id = 3 + 2 * count
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(count))
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>",
               f"<< /Type /Pages /Kids [{kids}] /Count {count} >>".encode()]
    for i, text in enumerate(pages):
        stream = f"BT /F1 36 Tf 72 700 Td ({text}) Tj ET".encode()
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents "
                       f"{4 + 2 * i} 0 R /Resources << /Font << /F1 {font_id} 0 R >> >> >>"
                       .encode())
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n%s\nendobj\n" % (number, body))
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n"
              % (len(objects) + 1, xref))
    return out.getvalue()


def docx(heading: str = "Quarterly letter") -> bytes:
    """A Word document with a heading, a paragraph and a small table (python-docx)."""
    from docx import Document  # noqa: PLC0415 - test-only dependency

    document = Document()
    document.add_heading(heading, level=1)
    document.add_paragraph("Dear team, the numbers are in. ").add_run("Good news.").bold = True
    table = document.add_table(rows=2, cols=2)
    for row, values in zip(table.rows, (("Quarter", "Revenue"), ("Q3", "42")), strict=True):
        for cell, value in zip(row.cells, values, strict=True):
            cell.text = value
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


MARKDOWN = b"# Team notes\n\nSome **bold** words and a list:\n\n- first\n- second\n"


# ----------------------------------------------------------------------------- page helpers

DROP_FILES_JS = """(files) => {
  const transfer = new DataTransfer();
  for (const f of files) {
    const bytes = Uint8Array.from(atob(f.data), (c) => c.charCodeAt(0));
    transfer.items.add(new File([bytes], f.name, {type: f.type, lastModified: 1700000000000}));
  }
  const zone = document.querySelector('[data-testid="drop-zone"]');
  for (const type of ['dragenter', 'dragover', 'drop']) {
    zone.dispatchEvent(new DragEvent(type, {dataTransfer: transfer, bubbles: true,
                                            cancelable: true}));
  }
}"""


def drop_files(bp: BrowserPage, files: dict[str, tuple[bytes, str]]) -> None:
    """Drop files on the browser's drop zone as a user dragging them from the desktop would."""
    bp.page.evaluate(DROP_FILES_JS, [
        {"name": name, "type": mime, "data": base64.b64encode(data).decode()}
        for name, (data, mime) in files.items()])


def row(bp: BrowserPage, name: str) -> Any:
    """The file browser row of `name`."""
    return bp.page.locator(f'[data-testid="entry-row"][data-name="{name}"]')


def names_in_folder(bp: BrowserPage) -> list[str]:
    """Names listed in the current folder, in display order."""
    rows = bp.page.locator('[data-testid="entry-row"]')
    return [rows.nth(i).get_attribute("data-name") or "" for i in range(rows.count())]


def log_in(bp: BrowserPage, email: str, password: str = PASSWORD) -> None:
    """Open the app and log in through the form."""
    bp.page.goto("/")
    bp.page.get_by_test_id("login-email").fill(email)
    bp.page.get_by_test_id("login-password").fill(password)
    bp.page.get_by_test_id("login-submit").click()
    expect(bp.page.get_by_test_id("user-email")).to_have_text(email)


def create_library(bp: BrowserPage, name: str, password: str | None = None) -> None:
    """Create a library through the dialog and wait for its row."""
    bp.page.get_by_test_id("new-library").click()
    bp.page.get_by_test_id("library-name-input").fill(name)
    if password is not None:
        bp.page.get_by_test_id("library-encrypt").check()
        bp.page.get_by_test_id("library-password").fill(password)
        bp.page.get_by_test_id("library-password2").fill(password)
    bp.page.get_by_test_id("dialog-ok").click()
    expect(bp.page.locator(f'[data-testid="library-row"][data-name="{name}"]')).to_be_visible()


def answer_prompt(bp: BrowserPage, text: str) -> None:
    """Type into the open prompt dialog and confirm it."""
    dialog = bp.page.get_by_test_id("prompt-dialog")
    dialog.get_by_test_id("dialog-input").fill(text)
    dialog.get_by_test_id("dialog-ok").click()
    expect(dialog).to_have_count(0)


def confirm(bp: BrowserPage) -> None:
    """Say yes in the open confirmation dialog."""
    dialog = bp.page.get_by_test_id("confirm-dialog")
    dialog.get_by_test_id("dialog-ok").click()
    expect(dialog).to_have_count(0)


def wait_uploads(bp: BrowserPage, done: int) -> None:
    """Wait until `done` uploads finished and every bar shows 100%."""
    page = bp.page
    expect(page.locator('[data-testid="upload-item"][data-state="done"]')).to_have_count(
        done, timeout=60_000)
    expect(page.locator('[data-testid="upload-item"][data-state="failed"]')).to_have_count(0)
    expect(page.get_by_test_id("upload-overall-percent")).to_have_text("100%")
    percents = page.get_by_test_id("upload-percent").all_inner_texts()
    assert percents, "no upload rows"
    assert all(p == "100%" for p in percents), percents
    bars = page.get_by_test_id("upload-progress")
    for i in range(bars.count()):
        value, top = bars.nth(i).evaluate("(b) => [b.value, b.max]")
        assert value == top, f"progress bar {i} stopped at {value}/{top}"


def open_preview(bp: BrowserPage, name: str, kind: str) -> Any:
    """Open the preview of `name` and wait for its `kind` of body."""
    row(bp, name).get_by_test_id("entry-open").click()
    body = bp.page.get_by_test_id("preview-body")
    expect(body).to_have_attribute("data-kind", kind, timeout=PREVIEW_TIMEOUT_MS)
    return body


def close_preview(bp: BrowserPage) -> None:
    """Close the preview modal."""
    bp.page.get_by_test_id("preview").get_by_test_id("dialog-close").click()
    expect(bp.page.get_by_test_id("preview")).to_have_count(0)


def expect_image_shown(image: Any) -> None:
    """The <img> finished loading and decoded to a real picture."""
    expect(image).to_have_attribute("data-loaded", "1", timeout=PREVIEW_TIMEOUT_MS)
    assert image.evaluate("(img) => img.complete && img.naturalWidth > 0"), "image not decoded"


def api_get(bp: BrowserPage, path: str) -> Any:
    """GET our JSON API with the page's session cookie."""
    response = bp.context.request.get(path)
    assert response.ok, f"GET {path}: {response.status} {response.text()}"
    return response


# ----------------------------------------------------------------------------- the journey


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_newcomer_journey(sesame_server: SesameServer, open_browser_page: OpenPage) -> None:
    """Acceptance (a): everything a newcomer does on day one works in a real browser."""
    sesame_server.create_user(USER, PASSWORD)
    bp = open_browser_page(sesame_server.url)
    page = bp.page
    sources = {
        "photo.png": (png(), "image/png"),
        "notes.md": (MARKDOWN, "text/markdown"),
        "report.pdf": (pdf(), "application/pdf"),
    }
    letter = docx()
    big = random.Random(7).randbytes(9 * 1024 * 1024 + 12345)  # two 8 MiB chunks

    response = page.goto("/")
    assert response is not None
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert "unsafe-eval" not in policy
    script = bp.context.request.get("/static/js/app.js")
    assert script.headers["content-type"].split(";")[0] in ("text/javascript",
                                                           "application/javascript")
    assert script.headers["x-content-type-options"] == "nosniff"
    expect(page.get_by_test_id("login-form")).to_be_visible()
    bp.shot("login-form")
    log_in(bp, USER)
    expect(page.get_by_test_id("library-empty")).to_be_visible()
    bp.shot("logged-in-no-libraries")

    create_library(bp, "Team")
    bp.shot("library-created")
    page.locator('[data-testid="library-row"][data-name="Team"]').get_by_test_id(
        "library-open").click()
    expect(page.get_by_test_id("empty-folder")).to_be_visible()
    library_id = page.url.split("#/lib/")[1].split("?")[0]

    page.get_by_test_id("new-folder").click()
    answer_prompt(bp, "docs")
    row(bp, "docs").get_by_test_id("entry-open").click()
    expect(page.get_by_test_id("crumb").last).to_have_text("docs")
    expect(page.get_by_test_id("empty-folder")).to_be_visible()
    bp.shot("new-folder-opened")

    drop_files(bp, sources)
    wait_uploads(bp, 3)
    expect(page.get_by_test_id("entry-row")).to_have_count(3)
    bp.shot("three-files-dropped")

    page.get_by_test_id("upload-input").set_input_files(files=[
        {"name": "letter.docx", "buffer": letter, "mimeType":
         "application/vnd.openxmlformats-officedocument.wordprocessingml.document"}])
    wait_uploads(bp, 4)
    page.get_by_test_id("upload-input").set_input_files(files=[
        {"name": "big.bin", "buffer": big, "mimeType": "application/octet-stream"}])
    wait_uploads(bp, 5)
    expect(page.get_by_test_id("entry-row")).to_have_count(5)
    bp.shot("uploaded-by-button")
    for name, data in [*((n, d) for n, (d, _) in sources.items()), ("letter.docx", letter),
                       ("big.bin", big)]:
        got = api_get(bp, f"/api/v1/repos/{library_id}/file?p=/docs/{name}").body()
        assert got == data, f"{name}: uploaded bytes differ"

    page.get_by_test_id("sort-size").click()
    expect(page.get_by_test_id("entry-row").last).to_have_attribute("data-name", "big.bin")
    page.get_by_test_id("sort-size").click()
    expect(page.get_by_test_id("entry-row").first).to_have_attribute("data-name", "big.bin")
    bp.shot("sorted-by-size-descending")
    page.get_by_test_id("sort-name").click()
    expect(page.get_by_test_id("entry-row").nth(2)).to_have_attribute("data-name", "notes.md")
    assert names_in_folder(bp) == ["big.bin", "letter.docx", "notes.md", "photo.png",
                                   "report.pdf"]

    body = open_preview(bp, "photo.png", "image")
    expect_image_shown(body.get_by_test_id("preview-image"))
    bp.shot("preview-image")
    close_preview(bp)

    body = open_preview(bp, "report.pdf", "pdf")
    expect(body.get_by_test_id("preview-page-number")).to_have_text("Page 1 of 2")
    expect(body.get_by_test_id("preview-page")).to_have_attribute(
        "data-loaded", "1", timeout=PREVIEW_TIMEOUT_MS)
    bp.shot("preview-pdf-page-1")
    body.get_by_test_id("preview-next").click()
    expect(body.get_by_test_id("preview-page-number")).to_have_text("Page 2 of 2")
    expect(body.get_by_test_id("preview-page")).to_have_attribute(
        "data-loaded", "2", timeout=PREVIEW_TIMEOUT_MS)
    expect(body.get_by_test_id("preview-next")).to_be_disabled()
    bp.shot("preview-pdf-page-2")
    close_preview(bp)

    body = open_preview(bp, "notes.md", "markdown")
    expect(body.get_by_test_id("preview-text").locator("h1")).to_have_text("Team notes")
    expect(body.get_by_test_id("preview-text").locator("strong")).to_have_text("bold")
    bp.shot("preview-markdown")
    close_preview(bp)

    body = open_preview(bp, "letter.docx", "pdf")
    expect(body.get_by_test_id("preview-page")).to_have_attribute(
        "data-loaded", "1", timeout=PREVIEW_TIMEOUT_MS)
    assert body.get_by_test_id("preview-page").evaluate("(img) => img.naturalWidth > 100")
    bp.shot("preview-office-document")
    close_preview(bp)

    row(bp, "notes.md").get_by_test_id("entry-rename").click()
    answer_prompt(bp, "readme.md")
    expect(row(bp, "readme.md")).to_be_visible()
    expect(row(bp, "notes.md")).to_have_count(0)
    bp.shot("renamed")

    page.get_by_test_id("new-folder").click()
    answer_prompt(bp, "archive")
    row(bp, "report.pdf").get_by_test_id("entry-move").click()
    picker = page.get_by_test_id("folder-picker")
    picker.locator('[data-testid="picker-folder"][data-name="archive"]').click()
    expect(picker.get_by_test_id("picker-current")).to_have_text("Destination: /docs/archive")
    bp.shot("move-folder-picker")
    picker.get_by_test_id("picker-choose").click()
    expect(row(bp, "report.pdf")).to_have_count(0)
    row(bp, "photo.png").get_by_test_id("entry-select").check()
    expect(page.get_by_test_id("selection-count")).to_have_text("1 selected")
    page.get_by_test_id("copy-selected").click()
    picker.locator('[data-testid="picker-folder"][data-name="archive"]').click()
    picker.get_by_test_id("picker-choose").click()
    expect(page.get_by_test_id("notice")).to_contain_text("Copied")
    row(bp, "archive").get_by_test_id("entry-open").click()
    expect(row(bp, "report.pdf")).to_be_visible()
    expect(row(bp, "photo.png")).to_be_visible()
    bp.shot("moved-and-copied-into-archive")
    page.get_by_test_id("crumb").nth(1).click()
    expect(row(bp, "archive")).to_be_visible()

    row(bp, "photo.png").get_by_test_id("entry-delete").click()
    confirm(bp)
    expect(row(bp, "photo.png")).to_have_count(0)
    bp.shot("deleted")
    page.get_by_test_id("library-trash").click()
    trashed = page.locator('[data-testid="trash-row"][data-name="photo.png"]')
    expect(trashed).to_be_visible()
    bp.shot("trash")
    trashed.get_by_test_id("trash-restore").click()
    expect(page.get_by_test_id("notice")).to_contain_text("Restored")
    page.get_by_test_id("back-to-files").click()
    row(bp, "docs").get_by_test_id("entry-open").click()
    expect(row(bp, "photo.png")).to_be_visible()
    bp.shot("restored-from-trash")

    page.get_by_test_id("crumb").first.click()
    with page.expect_download() as download_info:
        row(bp, "docs").get_by_test_id("entry-download").click()
    archive = zipfile.ZipFile(io.BytesIO(download_info.value.path().read_bytes()))
    assert archive.testzip() is None
    files = {name.removeprefix("docs/"): archive.read(name) for name in archive.namelist()
             if not name.endswith("/")}
    assert files == {"photo.png": sources["photo.png"][0], "readme.md": MARKDOWN,
                     "letter.docx": letter, "big.bin": big,
                     "archive/report.pdf": sources["report.pdf"][0],
                     "archive/photo.png": sources["photo.png"][0]}
    bp.shot("folder-downloaded-as-zip")

    commits = api_get(bp, f"/api/v1/repos/{library_id}/commits?limit=100").json()
    with_notes = next(c["id"] for c in commits if any(
        d["name"] == "notes.md" for d in api_get(
            bp, f"/api/v1/repos/{library_id}/commits/{c['id']}/dir?p=/docs").json()))
    page.get_by_test_id("library-history").click()
    expect(page.get_by_test_id("commit-row")).to_have_count(min(len(commits), 25))
    bp.shot("library-history")
    page.locator(f'[data-testid="commit-row"][data-commit="{with_notes}"]').get_by_test_id(
        "commit-browse").click()
    expect(page.get_by_test_id("snapshot-banner")).to_be_visible()
    page.locator('[data-testid="snapshot-row"][data-name="docs"]').get_by_test_id(
        "snapshot-open").click()
    old_notes = page.locator('[data-testid="snapshot-row"][data-name="notes.md"]')
    expect(old_notes).to_be_visible()
    bp.shot("older-snapshot")
    old_notes.get_by_test_id("snapshot-restore").click()
    expect(page.get_by_test_id("notice")).to_contain_text("Restored")
    page.get_by_test_id("back-to-files").click()
    row(bp, "docs").get_by_test_id("entry-open").click()
    expect(row(bp, "notes.md")).to_be_visible()
    expect(row(bp, "readme.md")).to_be_visible()
    assert api_get(bp, f"/api/v1/repos/{library_id}/file?p=/docs/notes.md").body() == MARKDOWN
    bp.shot("restored-from-snapshot")

    row(bp, "notes.md").get_by_test_id("entry-history").click()
    expect(page.get_by_test_id("version-row").first).to_be_visible()
    bp.shot("file-history")
    page.get_by_test_id("file-history").get_by_test_id("dialog-close").click()

    page.get_by_test_id("logout").click()
    expect(page.get_by_test_id("login-form")).to_be_visible()
    assert bp.context.request.get("/api/v1/auth/me").status == 401
    bp.shot("logged-out")


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_encrypted_library_asks_for_its_password(sesame_server: SesameServer,
                                                 open_browser_page: OpenPage) -> None:
    """An encrypted library opens only after its password; its files then work as usual."""
    sesame_server.create_user(USER, PASSWORD)
    bp = open_browser_page(sesame_server.url)
    bp.allow(r"status of 400 .*/unlock")  # the wrong password typed on purpose
    page = bp.page
    log_in(bp, USER)
    create_library(bp, "Vault", password="vault-secret")
    page.locator('[data-testid="library-row"][data-name="Vault"]').get_by_test_id(
        "library-open").click()
    dialog = page.get_by_test_id("unlock-dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_test_id("unlock-password").fill("not-the-password")
    dialog.get_by_test_id("dialog-ok").click()
    expect(dialog.get_by_test_id("unlock-error")).to_have_text("Wrong password, try again.")
    bp.shot("unlock-wrong-password")
    dialog.get_by_test_id("unlock-password").fill("vault-secret")
    dialog.get_by_test_id("dialog-ok").click()
    expect(page.get_by_test_id("empty-folder")).to_be_visible()
    page.get_by_test_id("upload-input").set_input_files(files=[
        {"name": "secret.md", "buffer": MARKDOWN, "mimeType": "text/markdown"}])
    wait_uploads(bp, 1)
    bp.shot("encrypted-upload")
    body = open_preview(bp, "secret.md", "markdown")
    expect(body.get_by_test_id("preview-text").locator("h1")).to_have_text("Team notes")
    close_preview(bp)

    page.get_by_test_id("logout").click()  # logging out forgets the key
    log_in(bp, USER)
    page.locator('[data-testid="library-row"][data-name="Vault"]').get_by_test_id(
        "library-open").click()
    expect(page.get_by_test_id("unlock-dialog")).to_be_visible()
    bp.shot("locked-again-after-logout")
    page.get_by_test_id("unlock-dialog").get_by_test_id("dialog-cancel").click()
    expect(page.get_by_test_id("library-list")).to_be_visible()


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_rename_and_delete_a_library(sesame_server: SesameServer,
                                     open_browser_page: OpenPage) -> None:
    """Libraries are renamed and deleted from the list; the API agrees."""
    sesame_server.create_user(USER, PASSWORD)
    bp = open_browser_page(sesame_server.url)
    page = bp.page
    log_in(bp, USER)
    create_library(bp, "Scratch")
    create_library(bp, "Keep")
    page.locator('[data-testid="library-row"][data-name="Scratch"]').get_by_test_id(
        "library-rename").click()
    answer_prompt(bp, "Scratch pad")
    renamed = page.locator('[data-testid="library-row"][data-name="Scratch pad"]')
    expect(renamed).to_be_visible()
    bp.shot("library-renamed")
    names = sorted(lib["name"] for lib in api_get(bp, "/api/v1/repos").json())
    assert names == ["Keep", "Scratch pad"]
    renamed.get_by_test_id("library-delete").click()
    confirm(bp)
    expect(page.get_by_test_id("library-row")).to_have_count(1)
    bp.shot("library-deleted")
    assert [lib["name"] for lib in api_get(bp, "/api/v1/repos").json()] == ["Keep"]


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_upload_resumes_after_a_reload(sesame_server: SesameServer, open_browser_page: OpenPage,
                                       tmp_path: Path) -> None:
    """An upload cut off after its first chunk resumes from the server's offset after a reload
    when the user picks the same file again."""
    sesame_server.create_user(USER, PASSWORD)
    big = random.Random(11).randbytes(20 * 1024 * 1024 + 999)  # three chunks
    source = tmp_path / "film.bin"
    source.write_bytes(big)
    bp = open_browser_page(sesame_server.url)
    bp.allow(r"ERR_FAILED|ERR_ABORTED")  # the chunks this test cuts off
    page = bp.page
    log_in(bp, USER)
    create_library(bp, "Media")
    page.locator('[data-testid="library-row"][data-name="Media"]').get_by_test_id(
        "library-open").click()
    expect(page.get_by_test_id("empty-folder")).to_be_visible()

    ranges: list[str] = []
    page.on("request", lambda r: ranges.append(r.headers.get("content-range", ""))
            if r.method == "PUT" and "/api/v1/uploads/" in r.url else None)

    def cut_off_later_chunks(route: Any) -> None:
        if route.request.method == "PUT" and not route.request.headers.get(
                "content-range", "").startswith("bytes 0-"):
            route.abort()
        else:
            route.continue_()

    page.route("**/api/v1/uploads/*", cut_off_later_chunks)
    page.get_by_test_id("upload-input").set_input_files(str(source))
    expect(page.get_by_test_id("upload-status")).to_contain_text("retrying", timeout=30_000)
    bp.shot("upload-cut-off")
    page.unroute("**/api/v1/uploads/*")
    page.reload()
    expect(page.get_by_test_id("resume-notice")).to_contain_text("/film.bin")
    bp.shot("unfinished-upload-remembered")
    ranges.clear()
    page.get_by_test_id("upload-input").set_input_files(str(source))
    wait_uploads(bp, 1)
    expect(page.get_by_test_id("upload-status")).to_have_text("done")
    chunk = 8 * 1024 * 1024
    assert ranges[0] == f"bytes {chunk}-{2 * chunk - 1}/{len(big)}", ranges
    assert ranges[-1] == f"bytes {2 * chunk}-{len(big) - 1}/{len(big)}", ranges
    library_id = page.url.split("#/lib/")[1].split("?")[0]
    assert api_get(bp, f"/api/v1/repos/{library_id}/file?p=/film.bin").body() == big
    page.reload()
    expect(row(bp, "film.bin")).to_be_visible()
    expect(page.get_by_test_id("resume-notice")).to_have_count(0)
    bp.shot("resumed-upload-complete")


# ----------------------------------------------------------------------------- isolation


@pytest.mark.slow
def test_second_user_sees_and_reaches_nothing_of_the_first(
        sesame_server: SesameServer, open_browser_page: OpenPage) -> None:
    """A second account lists no foreign library and every direct API call on one fails."""
    sesame_server.create_user(USER, PASSWORD)
    sesame_server.create_user(OTHER, PASSWORD)
    with httpx.Client(base_url=sesame_server.url, timeout=60) as http:
        token = http.post("/api2/auth-token/",
                          data={"username": USER, "password": PASSWORD}).json()["token"]
        owner = {"Authorization": f"Token {token}"}
        created = http.post("/api/v1/repos", json={"name": "Private"}, headers=owner)
        assert created.status_code == 201, created.text
        library_id = created.json()["id"]
        assert http.put(f"/api/v1/repos/{library_id}/file", params={"p": "/secret.txt"},
                        content=b"for my eyes only", headers=owner).status_code == 201

    bp = open_browser_page(sesame_server.url)
    bp.allow(r"status of 401")  # the wrong password typed on purpose
    page = bp.page
    page.goto("/")
    page.get_by_test_id("login-email").fill(OTHER)
    page.get_by_test_id("login-password").fill("wrong-password")
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("login-error")).to_have_text("Wrong email or password.")
    bp.shot("wrong-password")
    log_in(bp, OTHER)
    expect(page.get_by_test_id("library-empty")).to_be_visible()
    expect(page.get_by_test_id("library-row")).to_have_count(0)
    bp.shot("second-user-sees-no-library")
    page.goto(f"/#/lib/{library_id}?p=/")
    expect(page.get_by_test_id("library-missing")).to_be_visible()
    bp.shot("foreign-library-by-url")

    cookie = next(c for c in bp.context.cookies() if c["name"] == "sesame_session")
    assert cookie["httpOnly"]
    assert cookie["sameSite"] == "Strict"
    assert not cookie["secure"]
    assert cookie["path"] == "/"
    request = bp.context.request
    change = {"X-Sesame-Request": "1"}
    repo = f"/api/v1/repos/{library_id}"
    assert request.get("/api/v1/repos").json() == []
    refused = {
        "list": request.get(f"{repo}/dir?p=/"),
        "download": request.get(f"{repo}/file?p=/secret.txt"),
        "zip": request.get(f"{repo}/zip?p=/"),
        "commits": request.get(f"{repo}/commits"),
        "trash": request.get(f"{repo}/trash"),
        "preview": request.get(f"{repo}/preview?p=/secret.txt"),
        "rename": request.patch(repo, data={"name": "mine now"}, headers=change),
        "delete": request.delete(repo, headers=change),
        "unlock": request.post(f"{repo}/unlock", data={"password": "x"}, headers=change),
        "upload": request.post(f"{repo}/uploads", data={"path": "/x", "size": 1},
                               headers=change),
        "put": request.put(f"{repo}/file?p=/evil.txt", data=b"evil", headers=change),
        "remove": request.post(f"{repo}/delete", data={"paths": ["/secret.txt"]},
                               headers=change),
    }
    wrong = {what: r.status for what, r in refused.items() if r.status not in (403, 404)}
    assert not wrong, f"expected 403/404 for another user's library, got {wrong}"
    without_header = request.post("/api/v1/repos", data={"name": "csrf"})
    assert without_header.status == 403, "a cookie request without X-Sesame-Request changed data"

    with httpx.Client(base_url=sesame_server.url, timeout=60) as http:
        listed = http.get("/api/v1/repos", headers=owner).json()
        assert [lib["name"] for lib in listed] == ["Private"]
        kept = http.get(f"{repo}/file", params={"p": "/secret.txt"}, headers=owner)
        assert kept.content == b"for my eyes only"
        names = [d["name"] for d in http.get(f"{repo}/dir", params={"p": "/"},
                                             headers=owner).json()]
        assert names == ["secret.txt"]
