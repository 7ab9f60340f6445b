"""The TOML config: precedence, validation of [storage], secrets hidden, shipped examples."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from sesamedisk.config import REDACTED, load_settings
from sesamedisk.storage_config import LocalBackend, S3Backend

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TWO_DISKS = """
port = 9000
[storage]
write_quorum = 1
[[storage.backends]]
type = "local"
name = "a"
path = "copies/a"
[[storage.backends]]
type = "local"
name = "b"
region = "eu"
path = "/mnt/b"
[gc]
history_days = 7
"""


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sesame.toml"
    path.write_text(text)
    return path


def test_file_values_lose_to_environment_and_command_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = _config(tmp_path, TWO_DISKS)
    settings = load_settings(config)
    assert settings.port == 9000
    assert [b.name for b in settings.storage.backends] == ["a", "b"]
    assert settings.storage.target_copies == 2
    assert settings.storage.quorum == 1
    assert settings.gc.history_days == 7
    monkeypatch.setenv("SESAMEDISK_PORT", "9100")
    monkeypatch.setenv("SESAMEDISK_GC__TRASH_DAYS", "3")
    assert load_settings(config).port == 9100
    assert load_settings(config).gc.trash_days == 3
    assert load_settings(config, port=9200).port == 9200


def test_default_quorum_is_a_majority_of_copies(tmp_path: Path) -> None:
    disks = "".join(f'[[storage.backends]]\ntype = "local"\nname = "d{i}"\npath = "d{i}"\n'
                    for i in range(3))
    settings = load_settings(_config(tmp_path, "[storage]\n" + disks))
    assert (settings.storage.target_copies, settings.storage.quorum) == (3, 2)


@pytest.mark.parametrize(("text", "message"), [
    ('[storage]\ncopies = 3\n[[storage.backends]]\ntype = "local"\nname = "a"\npath = "a"\n',
     "copies = 3 but only 1 backends"),
    ('[storage]\nwrite_quorum = 2\n[[storage.backends]]\ntype = "local"\nname = "a"\n'
     'path = "a"\n', "write_quorum = 2 exceeds copies = 1"),
    ('[[storage.backends]]\ntype = "local"\nname = "a"\npath = "a"\n'
     '[[storage.backends]]\ntype = "local"\nname = "a"\npath = "b"\n', "unique names"),
    ('[storage]\ndefault_regions = ["mars"]\n[[storage.backends]]\ntype = "local"\n'
     'name = "a"\npath = "a"\n', "mars"),
    ('[[storage.backends]]\ntype = "s3"\nname = "s"\nendpoint = "http://x"\nbucket = "bkt"\n'
     'access_key = "k"\n', "exactly one of secret_key and secret_key_env"),
    ('[[storage.backends]]\ntype = "ftp"\nname = "a"\n', "type"),
    ('[storage]\ncopies = 2\n', "need [[storage.backends]]"),
    ('[gc]\nhistory_dayz = 3\n', "history_dayz"),
])
def test_inconsistent_storage_is_refused_with_a_reason(tmp_path: Path, text: str,
                                                       message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("[", r"\[")):
        load_settings(_config(tmp_path, text))


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_settings(tmp_path / "absent.toml")


def test_secrets_are_hidden_in_config_show(tmp_path: Path) -> None:
    config = _config(tmp_path, '[[storage.backends]]\ntype = "s3"\nname = "s"\n'
                               'endpoint = "http://127.0.0.1:7480"\nbucket = "bkt"\n'
                               'access_key = "k"\nsecret_key = "very-secret"\n')
    shown = load_settings(config).redacted()
    assert "very-secret" not in repr(shown)
    assert shown["storage"]["backends"][0]["secret_key"] == REDACTED  # type: ignore[index]


def test_shipped_examples_load() -> None:
    three = load_settings(EXAMPLES / "three-copies.toml").storage
    assert all(isinstance(b, LocalBackend) for b in three.backends)
    assert (three.target_copies, three.quorum, len(three.backends)) == (3, 2, 3)
    ceph = load_settings(EXAMPLES / "ceph.toml").storage
    assert isinstance(ceph.backends[0], S3Backend)
    assert ceph.backends[0].secret_key_env == "SESAMEDISK_CEPH_SECRET"
