"""Which paths office conversions must not see, and how the sandbox is told about them."""

from __future__ import annotations

from pathlib import Path

import pytest

from sesamedisk.adapters.previews.office import ALWAYS_HIDDEN, HiddenPaths, Sandbox
from sesamedisk.bootstrap import conversion_hidden_paths, sqlite_database_file
from sesamedisk.config import Settings, load_settings


def _siblings(database: Path) -> tuple[Path, ...]:
    return (database, *(database.with_name(database.name + suffix)
                        for suffix in ("-wal", "-shm", "-journal")))


def test_defaults_hide_the_data_folder_and_its_sqlite_file(tmp_path: Path) -> None:
    data = tmp_path / "data"
    hidden = conversion_hidden_paths(Settings(data=data))
    assert hidden.folders == (data,)
    assert hidden.files == _siblings((data / "metadata.sqlite3").resolve())


def test_config_file_local_roots_and_an_outside_sqlite_file_are_hidden(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "etc").mkdir()
    config = Path("etc") / "sesame.toml"
    config.write_text(f"""data = '{tmp_path / "data"}'
database_url = 'sqlite:///{tmp_path / "db" / "meta.sqlite3"}'
[[storage.backends]]
type = "local"
name = "inside"
path = "disk-a"
[[storage.backends]]
type = "local"
name = "outside"
path = '{tmp_path / "mnt" / "disk-b"}'
[[storage.backends]]
type = "s3"
name = "cloud"
endpoint = "http://127.0.0.1:9"
bucket = "bkt"
access_key = "k"
secret_key = "s"
""")
    settings = load_settings(config)
    assert settings.config_file == tmp_path / "etc" / "sesame.toml", "kept absolute"
    hidden = conversion_hidden_paths(settings)
    assert hidden.folders == (tmp_path / "data", tmp_path / "data" / "disk-a",
                              tmp_path / "mnt" / "disk-b")
    assert hidden.files == (tmp_path / "etc" / "sesame.toml",
                            *_siblings(tmp_path / "db" / "meta.sqlite3"))


def test_postgresql_has_no_database_file_and_no_config_means_none_hidden(
        tmp_path: Path) -> None:
    settings = Settings(data=tmp_path / "data",
                        database_url="postgresql://sesame:secret@127.0.0.1/sesame")
    assert settings.config_file is None
    assert conversion_hidden_paths(settings) == HiddenPaths(folders=(tmp_path / "data",))


@pytest.mark.parametrize(("url", "expected"), [
    ("sqlite:////srv/sesame/meta.db", Path("/srv/sesame/meta.db")),
    ("sqlite+pysqlite:////srv/meta.db", Path("/srv/meta.db")),
    ("sqlite:///file:/srv/meta.db?mode=ro&uri=true", Path("/srv/meta.db")),
    ("sqlite://", None),
    ("sqlite:///:memory:", None),
    ("postgresql+psycopg://u:p@127.0.0.1/db", None),
])
def test_sqlite_database_file_of_a_url(url: str, expected: Path | None) -> None:
    assert sqlite_database_file(url) == expected


def test_a_relative_or_symlinked_sqlite_file_is_its_real_path(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    real = tmp_path / "real" / "meta.sqlite3"
    real.parent.mkdir()
    real.write_bytes(b"")
    Path("link.sqlite3").symlink_to(real)
    assert sqlite_database_file("sqlite:///link.sqlite3") == real
    assert sqlite_database_file("sqlite:///rel/m.db") == tmp_path / "rel" / "m.db"
    settings = Settings(data=tmp_path / "data", database_url="sqlite:///link.sqlite3")
    assert conversion_hidden_paths(settings).files == _siblings(real)


def test_the_config_file_is_not_a_setting(tmp_path: Path) -> None:
    config = tmp_path / "sesame.toml"
    config.write_text("port = 9100\n")
    settings = load_settings(config, port=9200)
    assert settings.config_file == config
    assert "config_file" not in settings.redacted()
    assert load_settings().config_file is None


def test_resolved_follows_symlinks_and_puts_tmp_first(tmp_path: Path) -> None:
    real_folder, real_file = tmp_path / "disk", tmp_path / "conf.toml"
    real_folder.mkdir()
    real_file.write_text("")
    (tmp_path / "disk-link").symlink_to(real_folder)
    (tmp_path / "conf-link.toml").symlink_to(real_file)
    hidden = HiddenPaths(folders=(tmp_path / "disk-link", tmp_path / "absent"),
                         files=(tmp_path / "conf-link.toml",))
    assert hidden.resolved() == HiddenPaths(
        folders=(*(path.resolve() for path in ALWAYS_HIDDEN), real_folder.resolve(),
                 (tmp_path / "absent").resolve()),
        files=(real_file.resolve(),))


def test_the_sandbox_passes_files_then_folders_to_its_script() -> None:
    sandbox = Sandbox("/usr/bin/unshare", ("--map-root-user",), hides_files=True)
    hidden = HiddenPaths(folders=(Path("/srv/data"), Path("/mnt/disk")),
                         files=(Path("/etc/sesame.toml"),))
    command = sandbox.wrap(["soffice", "--headless"], Path("/srv/data/preview-tmp/x"), hidden)
    assert command[:7] == ["/usr/bin/unshare", "--net", "--map-root-user", "--mount",
                           "--propagation", "private", "sh"]
    assert command[9:] == ["sesame-hide", "/srv/data/preview-tmp/x", "/etc/sesame.toml", "--",
                           "/srv/data", "/mnt/disk", "--", "soffice", "--headless"]
    network_only = Sandbox("/usr/bin/unshare", (), hides_files=False)
    assert network_only.wrap(["soffice"], Path("/s"), hidden) == [
        "/usr/bin/unshare", "--net", "soffice"]
