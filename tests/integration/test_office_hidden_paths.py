"""Real unshare and LibreOffice: conversions see no config file, database or storage root."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from sesamedisk.adapters.previews import office
from sesamedisk.adapters.previews.office import HiddenPaths
from sesamedisk.bootstrap import build_deps, conversion_hidden_paths
from sesamedisk.config import Settings, load_settings
from sesamedisk.services import accounts
from sesamedisk.web.app import build_app
from tests.integration.linked_documents import odt_linking
from tests.integration.test_preview_hardening import (
    ALICE,
    _images_in,
    _png,
    _require_sandbox,
)
from tests.integration.test_previews import _get, _upload
from tests.plugins.app import PASSWORD, App

OUTSIDE_PARENTS = (Path("/var/tmp"), Path.home())
"""Where a test folder is neither below /tmp (always hidden) nor below the data folder."""

XBM_TOML = """#define probe_width 16
#define probe_height 16
# static unsigned char probe_bits[] = {{
# 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
# 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
# 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff }};
data = '{data}'
database_url = 'sqlite:///{database}'

[[storage.backends]]
type = "local"
name = "inside"
path = "disk-a"

[[storage.backends]]
type = "local"
name = "outside"
path = '{outside_root}'
"""
"""A valid config file that LibreOffice also reads as a 16x16 XBM picture (TOML comments)."""


@pytest.fixture
def outside() -> Iterator[Path]:
    """A fresh folder outside /tmp, removed afterwards."""
    tmp = Path("/tmp").resolve()
    for parent in OUTSIDE_PARENTS:
        if (parent.is_dir() and os.access(parent, os.W_OK)
                and not parent.resolve().is_relative_to(tmp)):
            folder = Path(tempfile.mkdtemp(prefix="sesame-hidden-", dir=parent)).resolve()
            break
    else:
        pytest.fail(f"no writable folder outside /tmp among {OUTSIDE_PARENTS}: the test "
                    "needs one to place files the sandbox must hide")
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _sandboxed(command: list[str], scratch: Path, hidden: HiddenPaths) -> str:
    sandbox = office.current_sandbox()
    assert sandbox is not None
    result = subprocess.run(sandbox.wrap(command, scratch, hidden.resolved()), cwd=scratch,
                            capture_output=True, check=True, timeout=30)
    return result.stdout.decode()


def test_hidden_files_read_empty_and_missing_ones_are_skipped(
        outside: Path, tmp_path: Path) -> None:
    _require_sandbox(hides_files=True)
    database = outside / "meta.sqlite3"
    database.write_text("tables")
    (outside / "meta.sqlite3-wal").write_text("pages")
    (outside / "link.sqlite3").symlink_to(database)
    (outside / "disk").mkdir()
    (outside / "disk" / "inside.txt").write_text("inside")
    settings = Settings(data=tmp_path / "data",
                        database_url=f"sqlite:///{outside / 'link.sqlite3'}")
    hidden = conversion_hidden_paths(settings)
    hidden = HiddenPaths(folders=(*hidden.folders, outside / "disk"),
                         files=(*hidden.files, outside / "disk" / "inside.txt"))
    assert outside / "meta.sqlite3-shm" in hidden.files, "absent, so skipped"
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    names = ["meta.sqlite3", "link.sqlite3", "meta.sqlite3-wal"]
    script = ["sh", "-c", 'for f in "$@"; do printf "%s=[%s] " "$f" "$(cat "$f")"; done; '
              'ls -A "$0"', str(outside / "disk"), *(str(outside / name) for name in names)]
    assert _sandboxed(script, scratch, hidden).split() == [
        *(f"{outside / name}=[]" for name in names)], "every file empty, the disk folder too"
    assert database.read_text() == "tables", "hidden only inside the conversion"


def test_a_conversion_sees_neither_the_config_file_nor_an_outside_storage_root(
        outside: Path, tmp_path: Path) -> None:
    _require_sandbox(hides_files=True)
    data, root = tmp_path / "data", outside / "disk-b"
    root.mkdir()
    planted = root / "planted.png"
    planted.write_bytes(_png())
    config = outside / "etc" / "sesame.toml"
    config.parent.mkdir()
    config.write_text(XBM_TOML.format(data=data, database=outside / "meta.sqlite3",
                                      outside_root=root))
    (outside / "sesame.toml").symlink_to(config)
    settings = load_settings(outside / "sesame.toml")
    document = odt_linking([path.as_uri() for path in (config, outside / "sesame.toml", planted)])

    source = tmp_path / "peek.odt"
    source.write_bytes(document)
    assert _images_in(office.to_pdf(source, tmp_path, 60, isolation="off")) == 3, \
        "control: unconfined, LibreOffice embeds the config file (as XBM) and the PNG"
    only_data = HiddenPaths(folders=(data,))
    assert _images_in(office.to_pdf(source, tmp_path, 60, hidden=only_data)) == 3, \
        "control: hiding only the data folder leaves them readable"

    deps = build_deps(settings)
    try:
        accounts.create_user(deps, None, email=ALICE, password=PASSWORD)
        application = build_app(deps, max_block_bytes=settings.max_block_bytes)
        with TestClient(application, raise_server_exceptions=False) as client:
            app = App(client=client, deps=deps, data=data)
            alice = app.login(ALICE)
            repo = str(app.create_library(alice)["repo_id"])
            file_id = _upload(app, alice, repo, "/peek.odt", document)
            info = _get(app, alice, repo, "preview", p="/peek.odt")
            assert info.status_code == 200, info.text
    finally:
        deps.close()
    assert (outside / "meta.sqlite3").is_file(), "the database lives outside the data folder"
    cached = data / "preview-cache" / repo / file_id[:2] / file_id / "document.pdf"
    assert _images_in(cached) == 0, "the conversion read the config file or a storage root"
