"""In-process application fixtures: the real ASGI app over a real database and local store."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from sesamedisk.bootstrap import build_deps
from sesamedisk.config import Settings
from sesamedisk.ports.deps import Deps
from sesamedisk.services import accounts
from sesamedisk.web.app import build_app

PASSWORD = "correct horse battery"


@dataclass
class App:
    """A running in-process app with two users and helpers to act as them."""

    client: TestClient
    deps: Deps
    data: Path

    def login(self, email: str, password: str = PASSWORD) -> dict[str, str]:
        """Authorization headers of a fresh api token."""
        response = self.client.post("/api2/auth-token/", data={
            "username": email, "password": password, "device_id": "d" * 40,
            "platform": "linux", "device_name": "pytest"})
        assert response.status_code == 200, response.text
        return {"Authorization": f"Token {response.json()['token']}"}

    def create_library(self, headers: dict[str, str], name: str = "lib",
                       passwd: str | None = None) -> dict[str, object]:
        """Create a library as seaf-cli does; returns its download-info."""
        form = {"name": name, "desc": "a test library"}
        if passwd is not None:
            form["passwd"] = passwd
        response = self.client.post("/api2/repos/", data=form, headers=headers)
        assert response.status_code == 200, response.text
        info: dict[str, object] = response.json()
        return info


@pytest.fixture
def app(database_url: str, tmp_path: Path) -> Iterator[App]:
    """The application on the parametrized database, with users alice and bob."""
    settings = Settings(data=tmp_path / "data", database_url=database_url)
    deps = build_deps(settings)
    for email in ("alice@example.com", "bob@example.com"):
        accounts.create_user(deps, None, email=email, password=PASSWORD)
    application = build_app(deps, max_block_bytes=settings.max_block_bytes)
    try:
        with TestClient(application, raise_server_exceptions=False) as client:
            yield App(client=client, deps=deps, data=settings.data)
    finally:
        deps.close()
