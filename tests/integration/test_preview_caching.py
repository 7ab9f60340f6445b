"""HTTP caching of previews and thumbnails: weak ETags, 304 without rendering."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image

from sesamedisk.services import files
from sesamedisk.web import conditional
from tests.integration.caching_support import (
    Work,
    assert_not_modified,
    image,
    library,
    put,
)
from tests.plugins.app import App


@pytest.fixture
def work(app: App, monkeypatch: pytest.MonkeyPatch) -> Work:
    """The app's object store, renderer and preview cache, counted."""
    return Work(app, monkeypatch)


def test_previews_have_their_own_etags_and_revalidate_without_rendering(
        app: App, work: Work) -> None:
    alice, repo = library(app)
    png = put(app, alice, repo, "/p.png", image("PNG"))
    bmp = put(app, alice, repo, "/s.bmp", image("BMP"))
    pdf = io.BytesIO()
    Image.new("RGB", (60, 80)).save(pdf, format="PDF", save_all=True,
                                    append_images=[Image.new("RGB", (60, 80))])
    doc = put(app, alice, repo, "/d.pdf", pdf.getvalue())
    sniffed = put(app, alice, repo, "/picture", image("PNG", blue=7))

    def get(what: str, path: str, **params: Any) -> Any:
        headers = {**alice, **params.pop("headers", {})}
        return app.client.get(f"/api/v1/repos/{repo}/{what}", params={"p": path, **params},
                              headers=headers)

    expected = {("thumbnail", "/p.png", 256): f'W/"{png["id"]}.thumb-256"',
                ("thumbnail", "/p.png", 64): f'W/"{png["id"]}.thumb-64"',
                ("thumbnail", "/d.pdf", 128): f'W/"{doc["id"]}.thumb-128"',
                ("preview/page", "/d.pdf", 1): f'W/"{doc["id"]}.page-1-1600"',
                ("preview/page", "/d.pdf", 2): f'W/"{doc["id"]}.page-2-1600"',
                ("preview/image", "/p.png", 0): f'W/"{png["id"]}.image"',
                ("preview/image", "/s.bmp", 0): f'W/"{bmp["id"]}.image.png"',
                ("thumbnail", "/picture", 64): f'W/"{sniffed["id"]}.thumb-64"'}
    parameter = {"thumbnail": "size", "preview/page": "n", "preview/image": "unused"}
    for (what, path, number), etag in expected.items():
        response = get(what, path, **{parameter[what]: number})
        assert response.status_code == 200, (what, path, response.text)
        assert response.headers["etag"] == etag
        assert response.headers["cache-control"] == "private, max-age=300"
    assert len(set(expected.values())) == len(expected)
    assert f'"{png["id"]}"' not in expected.values()

    work.take()
    for (what, path, number), etag in expected.items():
        if path == "/picture":
            continue
        response = get(what, path, headers={"If-None-Match": f'"a", {etag}'},
                       **{parameter[what]: number})
        assert_not_modified(response, etag, "private, max-age=300")
    assert work.take() == [], "no block read, no render, not even a cache lookup"

    sniffed_again = get("thumbnail", "/picture", size=64,
                        headers={"If-None-Match": expected[("thumbnail", "/picture", 64)]})
    assert_not_modified(sniffed_again, expected[("thumbnail", "/picture", 64)],
                         "private, max-age=300")  # the kind needed a sniff: rendered, no body
    other_size = get("thumbnail", "/p.png", size=512, headers={
        "If-None-Match": expected[("thumbnail", "/p.png", 256)]})
    assert other_size.status_code == 200
    assert other_size.headers["etag"] == f'W/"{png["id"]}.thumb-512"'
    file_tag = get("thumbnail", "/p.png", size=256, headers={"If-None-Match": f'"{png["id"]}"'})
    assert file_tag.status_code == 200, "the file's own ETag is not the thumbnail's"
    for bad in ({"size": 100}, {"size": "x"}):
        response = get("thumbnail", "/p.png", headers={"If-None-Match": "*"}, **bad)
        assert response.status_code == 400, bad
    assert get("preview/page", "/d.pdf", n=0, headers={"If-None-Match": "*"}).status_code == 400


def test_a_stale_preview_tag_is_compared_once_and_a_sniffed_kind_looked_up_once(
        app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    alice, repo = library(app)
    png = put(app, alice, repo, "/p.png", image("PNG"))
    put(app, alice, repo, "/picture", image("PNG", blue=7))
    compared: list[str] = []
    heads: list[str] = []
    is_not_modified, at_head = conditional.is_not_modified, files.at_head

    def counted_compare(*args: Any, **kwargs: Any) -> bool:
        compared.append(str(args[1].etag))
        return is_not_modified(*args, **kwargs)

    def counted_head(*args: Any, **kwargs: Any) -> Any:
        heads.append(args[2])
        return at_head(*args, **kwargs)

    monkeypatch.setattr(conditional, "is_not_modified", counted_compare)
    monkeypatch.setattr(files, "at_head", counted_head)
    stale = {**alice, "If-None-Match": 'W/"stale"'}
    thumb = app.client.get(f"/api/v1/repos/{repo}/thumbnail", params={"p": "/p.png"},
                           headers=stale)
    assert thumb.status_code == 200, thumb.text
    assert compared == [f'W/"{png["id"]}.thumb-256"'], "compared before rendering only"
    compared.clear()
    heads.clear()
    sniffed = app.client.get(f"/api/v1/repos/{repo}/thumbnail", params={"p": "/picture"},
                             headers=stale)
    assert sniffed.status_code == 200, sniffed.text
    assert heads == [repo], "the name does not settle the kind: looked up by the render only"
    assert len(compared) == 1, "compared after rendering"
