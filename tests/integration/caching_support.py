"""Helpers of the HTTP caching tests: counted work, a library, a file, an image."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
from PIL import Image

from sesamedisk.ports.objects import ObjectKind
from tests.plugins.app import App

ALICE, BOB = "alice@example.com", "bob@example.com"
DATA = bytes(range(256)) * 40
BLOCK_READS = ("get", "open_read", "get_stamped", "size")
RENDERS = ("thumbnail", "browser_png", "pdf_page_count", "pdf_page_png", "office_to_pdf")
CACHE_READS = ("read", "path_of")


class Work:
    """Counts what a request really does: block reads, renders, preview cache reads."""

    def __init__(self, app: App, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[str] = []
        store = app.deps.objects
        for name in BLOCK_READS:
            if hasattr(store, name):
                monkeypatch.setattr(store, name, self._blocks(name, getattr(store, name)))
        if hasattr(store, "open_block_pieces"):  # a block read that takes no kind
            monkeypatch.setattr(store, "open_block_pieces",
                                self._any("block open_block_pieces", store.open_block_pieces))
        previews = app.deps.previews
        assert previews is not None
        for target, names in ((previews.renderer, RENDERS), (previews.cache, CACHE_READS)):
            for name in names:
                monkeypatch.setattr(target, name, self._any(name, getattr(target, name)))

    def _blocks(self, name: str, original: Callable[..., Any]) -> Callable[..., Any]:
        def counted(kind: ObjectKind, *args: Any, **kwargs: Any) -> Any:
            if kind is ObjectKind.BLOCK:
                self.calls.append(f"block {name}")
            return original(kind, *args, **kwargs)
        return counted

    def _any(self, name: str, original: Callable[..., Any]) -> Callable[..., Any]:
        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            return original(*args, **kwargs)
        return counted

    def take(self) -> list[str]:
        """The calls since the last take."""
        done, self.calls = self.calls, []
        return done


def library(app: App, passwd: str | None = None) -> tuple[dict[str, str], str]:
    alice = app.login(ALICE)
    repo = str(app.create_library(alice, passwd=passwd)["repo_id"])
    if passwd is not None:
        unlocked = app.client.post(f"/api/v1/repos/{repo}/unlock", json={"password": passwd},
                                   headers=alice)
        assert unlocked.status_code == 204, unlocked.text
    return alice, repo


def put(app: App, headers: dict[str, str], repo: str, path: str, data: bytes) -> Any:
    response = app.client.put(f"/api/v1/repos/{repo}/file", params={"p": path}, content=data,
                              headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def file(app: App, headers: Any, repo: str, path: str = "/f.bin", *, method: str = "GET",
          **params: str) -> Any:
    return app.client.request(method, f"/api/v1/repos/{repo}/file",
                              params={"p": path, **params}, headers=headers)


def image(fmt: str, blue: int = 200) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (300, 200), (10, 120, blue)).save(out, format=fmt)
    return out.getvalue()


def assert_not_modified(response: Any, etag: str, cache_control: str) -> None:
    assert response.status_code == 304, response.text
    assert response.content == b""
    assert response.headers["etag"] == etag
    assert response.headers["cache-control"] == cache_control
    assert "content-length" not in response.headers or response.headers["content-length"] == "0"
