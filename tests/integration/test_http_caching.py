"""HTTP caching of downloads: ETag, Last-Modified, 304, If-Range and HEAD."""

from __future__ import annotations

import time

import pytest

from sesamedisk.services.library_objects import LibraryObjects
from sesamedisk.web.conditional import format_http_date, parse_http_date
from tests.integration.caching_support import (
    ALICE,
    BOB,
    DATA,
    Work,
    assert_not_modified,
    file,
    image,
    library,
    put,
)
from tests.plugins.app import App


@pytest.fixture
def work(app: App, monkeypatch: pytest.MonkeyPatch) -> Work:
    """The app's object store, renderer and preview cache, counted."""
    return Work(app, monkeypatch)


def test_a_download_carries_its_validators(app: App) -> None:
    alice, repo = library(app)
    dirent = put(app, alice, repo, "/f.bin", DATA)
    for response in (file(app, alice, repo), file(app, alice, repo, inline="1"),
                     file(app, {**alice, "Range": "bytes=5-9"}, repo)):
        assert response.status_code in (200, 206), response.text
        assert response.headers["etag"] == f'"{dirent["id"]}"'
        assert response.headers["cache-control"] == "private, no-cache"
        assert response.headers["accept-ranges"] == "bytes"
        assert response.headers["last-modified"] == format_http_date(dirent["mtime"])
    assert file(app, {**alice, "Range": "bytes=5-9"}, repo).content == DATA[5:10]


def test_if_none_match_answers_304_without_reading_a_block(app: App, work: Work) -> None:
    alice, repo = library(app)
    dirent = put(app, alice, repo, "/f.bin", DATA)
    etag = f'"{dirent["id"]}"'
    work.take()
    for sent in (etag, "*", f'"other", W/{etag}', f' , "x",{etag} ,', f"W/{etag}"):
        response = file(app, {**alice, "If-None-Match": sent}, repo)
        assert_not_modified(response, etag, "private, no-cache")
    two_lines = [*alice.items(), ("If-None-Match", '"other"'), ("If-None-Match", etag)]
    assert_not_modified(file(app, two_lines, repo), etag, "private, no-cache")
    ranged = file(app, {**alice, "If-None-Match": etag, "Range": "bytes=0-9"}, repo)
    assert_not_modified(ranged, etag, "private, no-cache")
    assert work.take() == [], "a 304 reads no block"

    future = format_http_date(int(time.time()) + 86400)
    for sent in ('"other"', "garbage", etag[1:], f"{etag} {etag}", f'"{dirent["id"][:-1]}"'):
        response = file(app, {**alice, "If-None-Match": sent, "If-Modified-Since": future},
                         repo)
        assert response.status_code == 200, sent
        assert response.content == DATA
    assert any(call.startswith("block ") for call in work.take()), \
        "the counter sees the downloads' reads"


def test_if_modified_since_applies_only_without_if_none_match(app: App, work: Work) -> None:
    alice, repo = library(app)
    put(app, alice, repo, "/f.bin", DATA)
    first = file(app, alice, repo)
    modified, etag = first.headers["last-modified"], first.headers["etag"]
    seconds = parse_http_date(modified)
    assert seconds is not None
    at = time.gmtime(seconds)
    rfc850 = time.strftime("%A, %d-%b-%y %H:%M:%S GMT", at)
    asctime = time.strftime("%a %b ", at) + f"{at.tm_mday:2d}" + time.strftime(" %H:%M:%S %Y", at)
    work.take()
    for sent in (modified, format_http_date(seconds + 3600), rfc850, asctime):
        response = file(app, {**alice, "If-Modified-Since": sent}, repo)
        assert_not_modified(response, etag, "private, no-cache")
    assert work.take() == []
    for sent in (format_http_date(seconds - 1), "yesterday", "Sun, 31 Feb 2021 00:00:00 GMT"):
        response = file(app, {**alice, "If-Modified-Since": sent}, repo)
        assert response.status_code == 200, sent
        assert response.content == DATA
    with_tag = file(app, {**alice, "If-Modified-Since": modified, "If-None-Match": '"x"'}, repo)
    assert with_tag.status_code == 200


def test_if_range_honours_the_range_only_for_the_current_etag(app: App) -> None:
    alice, repo = library(app)
    dirent = put(app, alice, repo, "/f.bin", DATA)
    etag = f'"{dirent["id"]}"'
    current = file(app, {**alice, "Range": "bytes=100-199", "If-Range": etag}, repo)
    assert current.status_code == 206
    assert current.content == DATA[100:200]
    assert current.headers["content-range"] == f"bytes 100-199/{len(DATA)}"
    modified = current.headers["last-modified"]
    for stale in ('"old"', f"W/{etag}", modified, "junk", ""):
        response = file(app, {**alice, "Range": "bytes=100-199", "If-Range": stale}, repo)
        assert response.status_code == 200, stale
        assert response.content == DATA
    twice = [*alice.items(), ("Range", "bytes=0-1"), ("If-Range", etag), ("If-Range", etag)]
    assert file(app, twice, repo).status_code == 200


def test_head_answers_the_headers_without_reading_a_block(app: App, work: Work) -> None:
    alice, repo = library(app)
    big = DATA * 1000  # 10 MB: several blocks
    dirent = put(app, alice, repo, "/f.bin", big)
    blocks = LibraryObjects(app.deps.objects, repo).load_file(dirent["id"]).block_ids
    assert len(blocks) > 1
    full = file(app, alice, repo)
    work.take()

    head = file(app, alice, repo, method="HEAD")
    assert head.status_code == 200
    assert head.content == b""
    for name in ("content-length", "etag", "content-type", "last-modified", "cache-control",
                 "accept-ranges", "content-disposition"):
        assert head.headers[name] == full.headers[name], name
    assert head.headers["content-length"] == str(len(big))
    ranged = file(app, {**alice, "Range": "bytes=-10"}, repo, method="HEAD")
    assert ranged.status_code == 206
    assert ranged.headers["content-range"] == f"bytes {len(big) - 10}-{len(big) - 1}/{len(big)}"
    assert ranged.headers["content-length"] == "10"
    outside = file(app, {**alice, "Range": f"bytes={len(big)}-"}, repo, method="HEAD")
    assert outside.status_code == 416
    assert_not_modified(file(app, {**alice, "If-None-Match": full.headers["etag"]}, repo,
                               method="HEAD"), full.headers["etag"], "private, no-cache")
    assert work.take() == [], "HEAD reads no block, not even a block's size"
    assert file(app, {**alice, "Range": "bytes=9000000-9000009"}, repo).content \
        == big[9000000:9000010]
    assert work.take(), "the counter sees a ranged download's reads"

    for block_id in blocks:  # without its blocks the file can no longer be downloaded...
        for stored in app.data.rglob(block_id[2:]):
            stored.unlink()
    assert file(app, alice, repo).content != big
    assert file(app, alice, repo, method="HEAD").status_code == 200  # ...but HEAD still works
    assert_not_modified(file(app, {**alice, "If-None-Match": full.headers["etag"]}, repo),
                         full.headers["etag"], "private, no-cache")


def test_a_304_is_never_given_to_another_user(app: App, work: Work) -> None:
    alice, repo = library(app)
    dirent = put(app, alice, repo, "/d/f.png", image("PNG"))
    etag = f'"{dirent["id"]}"'
    thumb = app.client.get(f"/api/v1/repos/{repo}/thumbnail", params={"p": "/d/f.png"},
                           headers=alice)
    assert thumb.status_code == 200
    bob = app.login(BOB)
    future = format_http_date(int(time.time()) + 86400)
    conditions = [{"If-None-Match": etag}, {"If-None-Match": "*"},
                  {"If-Modified-Since": future}]
    work.take()
    for who in (bob, {}):
        for condition in conditions:
            for method in ("GET", "HEAD"):
                response = file(app, {**who, **condition}, repo, "/d/f.png", method=method)
                assert response.status_code in (401, 403, 404), (who, condition, method)
                assert "etag" not in response.headers
        for what, tag in (("thumbnail", thumb.headers["etag"]), ("preview/image", "*"),
                          ("preview/page", "*")):
            response = app.client.get(f"/api/v1/repos/{repo}/{what}", params={"p": "/d/f.png"},
                                      headers={**who, "If-None-Match": tag})
            assert response.status_code in (401, 403, 404), (who, what)
            assert "etag" not in response.headers
    assert work.take() == []
    missing = file(app, {**alice, "If-None-Match": "*"}, repo, "/d/nothing.png")
    assert missing.status_code == 404


def test_a_changed_file_gets_a_new_etag(app: App) -> None:
    alice, repo = library(app)
    first = f'"{put(app, alice, repo, "/f.bin", b"version one")["id"]}"'
    second = f'"{put(app, alice, repo, "/f.bin", b"version two")["id"]}"'
    assert first != second
    response = file(app, {**alice, "If-None-Match": first}, repo)
    assert response.status_code == 200
    assert response.content == b"version two"
    assert response.headers["etag"] == second
    resumed = file(app, {**alice, "If-Range": first, "Range": "bytes=8-"}, repo)
    assert resumed.status_code == 200, "a stale If-Range never splices two versions"
    assert resumed.content == b"version two"
    assert_not_modified(file(app, {**alice, "If-None-Match": second}, repo), second,
                         "private, no-cache")
    assert f'"{put(app, alice, repo, "/f.bin", b"version one")["id"]}"' == first
    assert_not_modified(file(app, {**alice, "If-None-Match": first}, repo), first,
                         "private, no-cache")


def test_encrypted_libraries_revalidate_the_same_way(app: App, work: Work) -> None:
    alice, repo = library(app, passwd="sesame")
    dirent = put(app, alice, repo, "/f.bin", DATA)
    png = put(app, alice, repo, "/p.png", image("PNG"))
    etag = f'"{dirent["id"]}"'
    full = file(app, alice, repo)
    assert full.content == DATA
    assert full.headers["etag"] == etag
    assert full.headers["cache-control"] == "private, no-store"
    thumb = app.client.get(f"/api/v1/repos/{repo}/thumbnail", params={"p": "/p.png"},
                           headers=alice)
    assert thumb.headers["etag"] == f'W/"{png["id"]}.thumb-256"'
    work.take()
    assert_not_modified(file(app, {**alice, "If-None-Match": etag}, repo), etag,
                         "private, no-store")
    assert file(app, alice, repo, method="HEAD").headers["content-length"] == str(len(DATA))
    again = app.client.get(f"/api/v1/repos/{repo}/thumbnail", params={"p": "/p.png"},
                           headers={**alice, "If-None-Match": thumb.headers["etag"]})
    assert_not_modified(again, thumb.headers["etag"], "private, no-store")
    assert work.take() == [], "nothing decrypted, nothing rendered"
    ranged = file(app, {**alice, "If-Range": etag, "Range": "bytes=-5"}, repo)
    assert ranged.status_code == 206
    assert ranged.content == DATA[-5:]
    other_session = app.login(ALICE)  # has not unlocked the library
    locked = file(app, {**other_session, "If-None-Match": etag}, repo)
    assert locked.status_code == 440
    assert "etag" not in locked.headers


def test_head_of_a_zip_or_an_old_version_reads_no_block(app: App, work: Work) -> None:
    alice, repo = library(app)
    put(app, alice, repo, "/folder/f.bin", DATA * 1000)
    zipped = app.client.get(f"/api/v1/repos/{repo}/zip", params={"p": "/folder"},
                            headers=alice)
    assert zipped.status_code == 200
    assert len(zipped.content) > len(DATA) * 1000
    commits = app.client.get(f"/api/v1/repos/{repo}/commits", headers=alice).json()
    commit_id = commits[0]["id"]
    old = f"/api/v1/repos/{repo}/commits/{commit_id}/file"
    assert app.client.get(old, params={"p": "/folder/f.bin"}, headers=alice).content \
        == DATA * 1000
    work.take()

    head = app.client.head(f"/api/v1/repos/{repo}/zip", params={"p": "/folder"},
                           headers=alice)
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == "application/zip"
    assert "content-length" not in head.headers  # made on the fly: unknown
    old_head = app.client.head(old, params={"p": "/folder/f.bin"}, headers=alice)
    assert old_head.status_code == 200
    assert old_head.headers["content-length"] == str(len(DATA) * 1000)
    assert [call for call in work.take() if call.startswith("block")] == []
    missing = app.client.head(f"/api/v1/repos/{repo}/zip", params={"p": "/nothing"},
                              headers=alice)
    assert missing.status_code == 404
