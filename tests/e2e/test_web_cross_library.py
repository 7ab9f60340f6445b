"""Copy and move into another library from the web UI, in real Chromium against a real server.

A user with libraries Alpha and Beta (plain) and Crypt (encrypted) copies a file from Alpha
into a folder of Beta through the folder picker's library choice, moves a folder from Alpha
into Crypt (asked for Crypt's password first), unlocks Crypt inside the picker, and gets a
real 440 after a server restart forgot the key: the UI asks again and retries once. Bytes are
checked over the API; screenshots go to test-artifacts/<test>/; any console error fails.
"""

from __future__ import annotations

import random
from typing import Any
from urllib.parse import quote

import pytest
from playwright.sync_api import expect

from tests.e2e.test_web_ui import PASSWORD, USER, api_get, create_library, log_in, row
from tests.plugins.browser import BrowserPage
from tests.plugins.server import SesameServer

SECRET = "crypt-Secret-9"
CHANGE = {"X-Sesame-Request": "1"}


def put_file(bp: BrowserPage, repo_id: str, path: str, data: bytes) -> None:
    """Store a file over the API with the page's session (creates it)."""
    response = bp.context.request.put(f"/api/v1/repos/{repo_id}/file?p={quote(path)}",
                                      data=data, headers=CHANGE)
    assert response.status == 201, f"PUT {path}: {response.status} {response.text()}"


def make_dir(bp: BrowserPage, repo_id: str, path: str) -> None:
    """Create a folder (and its parents) over the API."""
    response = bp.context.request.post(f"/api/v1/repos/{repo_id}/dir?p={quote(path)}",
                                       headers=CHANGE)
    assert response.status == 201, f"mkdir {path}: {response.status} {response.text()}"


def download(bp: BrowserPage, repo_id: str, path: str) -> bytes:
    """A file's bytes over the API."""
    body: bytes = api_get(bp, f"/api/v1/repos/{repo_id}/file?p={quote(path)}").body()
    return body


def listing(bp: BrowserPage, repo_id: str, path: str) -> set[str]:
    """Names in a folder over the API."""
    return {e["name"] for e in api_get(bp, f"/api/v1/repos/{repo_id}/dir?p={quote(path)}").json()}


def open_library(bp: BrowserPage, name: str) -> None:
    """Go to the library list and open `name`."""
    bp.page.get_by_test_id("back-to-libraries").click()
    bp.page.locator(f'[data-testid="library-row"][data-name="{name}"]').get_by_test_id(
        "library-open").click()
    expect(bp.page.get_by_test_id("library-title")).to_have_text(name)


def library_choice(picker: Any, name: str) -> Any:
    """The picker's row for library `name`."""
    return picker.locator(f'[data-testid="picker-library"][data-name="{name}"]')


def picker_folder(picker: Any, name: str) -> Any:
    """A folder button in the picker's list."""
    return picker.locator(f'[data-testid="picker-folder"][data-name="{name}"]')


def unlock(bp: BrowserPage) -> None:
    """Give Crypt's password in the open unlock dialog."""
    dialog = bp.page.get_by_test_id("unlock-dialog")
    expect(dialog.get_by_test_id("dialog-title")).to_have_text("Unlock “Crypt”")
    dialog.get_by_test_id("unlock-password").fill(SECRET)
    dialog.get_by_test_id("dialog-ok").click()
    expect(dialog).to_have_count(0)


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_copy_and_move_into_other_libraries(sesame_server: SesameServer,
                                            open_browser_page: Any) -> None:
    """The picker offers every writable library; copies and moves land there byte for byte."""
    sesame_server.create_user(USER, PASSWORD)
    rng = random.Random(23)
    plan = rng.randbytes(150_000)
    figures = rng.randbytes(9 * 1024 * 1024 + 4321)  # two blocks, re-encrypted on the way
    draft = b"# Draft\n\nnot final yet\n"
    bp: BrowserPage = open_browser_page(sesame_server.url)
    page = bp.page
    notice = page.get_by_test_id("notice")
    picker = page.get_by_test_id("folder-picker")
    log_in(bp, USER)
    for name in ("Alpha", "Beta"):
        create_library(bp, name)
    create_library(bp, "Crypt", password=SECRET)
    ids = {lib["name"]: lib["id"] for lib in api_get(bp, "/api/v1/repos").json()}
    alpha, beta, crypt = ids["Alpha"], ids["Beta"], ids["Crypt"]
    put_file(bp, alpha, "/plan.txt", plan)
    make_dir(bp, alpha, "/reports/drafts")
    put_file(bp, alpha, "/reports/figures.bin", figures)
    put_file(bp, alpha, "/reports/drafts/draft.md", draft)
    make_dir(bp, beta, "/inbox")
    page.locator('[data-testid="library-row"][data-name="Alpha"]').get_by_test_id(
        "library-open").click()
    expect(row(bp, "plan.txt")).to_be_visible()
    bp.shot("alpha-with-files")

    # Copy plan.txt into Beta's inbox, twice: the second copy gets a free name.
    for copy_name in ("plan.txt", "plan (1).txt"):
        row(bp, "plan.txt").get_by_test_id("entry-copy").click()
        current = library_choice(picker, "Alpha").get_by_test_id("picker-library-radio")
        expect(current).to_be_checked()
        expect(picker.get_by_test_id("picker-library")).to_have_count(3)
        expect(library_choice(picker, "Crypt").locator(".icon.lock")).to_have_count(1)
        expect(library_choice(picker, "Beta").locator(".icon.lock")).to_have_count(0)
        expect(picker_folder(picker, "reports")).to_be_visible()
        library_choice(picker, "Beta").click()
        picker_folder(picker, "inbox").click()
        expect(picker.get_by_test_id("picker-current")).to_have_text(
            "Destination: /inbox in “Beta”")
        expect(picker.get_by_test_id("picker-crumb")).to_have_text(["Beta", "inbox"])
        if copy_name == "plan.txt":
            bp.shot("copy-picker-in-beta")
        with page.expect_response(lambda r: r.url.endswith("/copy")) as answer:
            picker.get_by_test_id("picker-choose").click()
        assert answer.value.status == 204
        expect(notice).to_have_text("Copied 1 item(s) to /inbox in “Beta”")
        assert download(bp, beta, f"/inbox/{copy_name}") == plan
    expect(row(bp, "plan.txt")).to_be_visible()  # a copy leaves the source alone
    assert download(bp, alpha, "/plan.txt") == plan
    open_library(bp, "Beta")
    row(bp, "inbox").get_by_test_id("entry-open").click()
    expect(row(bp, "plan.txt")).to_be_visible()
    expect(row(bp, "plan (1).txt")).to_be_visible()
    bp.shot("beta-lists-the-copies")

    # Move the folder reports into the locked encrypted Crypt: the password is asked first.
    open_library(bp, "Alpha")
    row(bp, "reports").get_by_test_id("entry-select").check()
    page.get_by_test_id("move-selected").click()
    library_choice(picker, "Crypt").click()
    expect(picker.get_by_test_id("picker-locked")).to_be_visible()
    expect(picker.get_by_test_id("picker-current")).to_have_text("Destination: / in “Crypt”")
    bp.shot("move-picker-crypt-locked")
    picker.get_by_test_id("picker-choose").click()
    expect(page.get_by_test_id("unlock-dialog")).to_be_visible()
    bp.shot("asked-for-crypt-password")
    unlock(bp)
    expect(notice).to_have_text("Moved 1 item(s) to / in “Crypt”")
    expect(row(bp, "reports")).to_have_count(0)
    assert listing(bp, alpha, "/") == {"plan.txt"}
    assert download(bp, crypt, "/reports/figures.bin") == figures
    assert download(bp, crypt, "/reports/drafts/draft.md") == draft
    open_library(bp, "Crypt")  # unlocked in this session: no second question
    expect(row(bp, "reports")).to_be_visible()
    bp.shot("crypt-holds-the-moved-folder")

    # A restart forgets every unlocked key: the picker shows Crypt locked and unlocks it.
    sesame_server.stop()
    sesame_server.start()
    open_library(bp, "Alpha")
    row(bp, "plan.txt").get_by_test_id("entry-copy").click()
    library_choice(picker, "Crypt").click()
    picker.get_by_test_id("picker-unlock").click()
    unlock(bp)
    picker_folder(picker, "reports").click()
    expect(picker.get_by_test_id("picker-current")).to_have_text(
        "Destination: /reports in “Crypt”")
    bp.shot("picker-browses-unlocked-crypt")

    # The key is lost again while the picker is open: the server answers 440, the UI asks
    # for the password and retries once.
    sesame_server.stop()
    sesame_server.start()
    bp.allow(r"status of 440 .*/copy")  # the one refused attempt this step provokes
    statuses: list[int] = []
    page.on("response", lambda r: statuses.append(r.status) if r.url.endswith("/copy") else None)
    picker.get_by_test_id("picker-choose").click()
    expect(page.get_by_test_id("unlock-dialog")).to_be_visible()
    bp.shot("asked-again-after-440")
    unlock(bp)
    expect(notice).to_have_text("Copied 1 item(s) to /reports in “Crypt”")
    assert statuses == [440, 204]
    assert download(bp, crypt, "/reports/plan.txt") == plan
    assert listing(bp, crypt, "/reports") == {"figures.bin", "drafts", "plan.txt"}
    bp.shot("copied-after-retry")
    bp.assert_no_errors()
