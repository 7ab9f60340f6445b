"""enc_version 2 against the values the real client used, plus round-trip properties."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sesamedisk.domain import crypto
from sesamedisk.domain.objects import EncryptionInfo
from sesamedisk.errors import Corrupted, InvalidRequest, PermissionDenied
from tests.seafile_fixtures import FIXTURES, MANIFEST, fixture_tree

LIB = MANIFEST["libraries"]["encrypted"]
ENC = LIB["encryption"]
REPO_ID: str = LIB["repo_id"]
PASSWORD: str = ENC["password"]
INFO = EncryptionInfo(enc_version=ENC["enc_version"], magic=ENC["magic"],
                      random_key=ENC["random_key"], salt=ENC["salt"])


def source_bytes(path: str) -> bytes:
    tree = fixture_tree()
    if path == "/" + tree.BIG_NAME:
        return bytes(tree.big_bytes())
    return bytes(tree.TEXT_FILES[path.lstrip("/")])


def test_constants_match_manifest() -> None:
    assert crypto.KDF_SALT.hex() == ENC["kdf_salt_hex"]
    assert crypto.ENC_VERSION == ENC["enc_version"] == 2


def test_fixture_password_verifies() -> None:
    assert crypto.verify_password(REPO_ID, PASSWORD, INFO)
    assert crypto.derive((REPO_ID + PASSWORD).encode())[0].hex() == ENC["magic"]


@pytest.mark.parametrize("wrong", ["", "fixture-password-2", "Fixture-password-1",
                                   PASSWORD + " ", "ü"])
def test_wrong_password_is_refused(wrong: str) -> None:
    assert not crypto.verify_password(REPO_ID, wrong, INFO)
    with pytest.raises(PermissionDenied, match="wrong password"):
        crypto.unlock(REPO_ID, wrong, INFO)


def test_password_is_bound_to_the_library() -> None:
    other = "4466ce7b-8502-4f9c-b9ef-dc58babccb89"
    assert not crypto.verify_password(other, PASSWORD, INFO)


def test_unlock_gives_the_manifest_file_key() -> None:
    key = crypto.unlock(REPO_ID, PASSWORD, INFO)
    assert key.key.hex() == ENC["file_key_hex"]
    assert key.iv.hex() == ENC["file_iv_hex"]
    assert ENC["file_key_hex"] not in repr(key)


def test_fixture_blocks_decrypt_to_source_slices() -> None:
    key = crypto.unlock(REPO_ID, PASSWORD, INFO)
    checked = 0
    for block_id, block in LIB["blocks"].items():
        if block["file"] is None:
            continue
        data = (FIXTURES / block["file"]).read_bytes()
        assert hashlib.sha1(data).hexdigest() == block_id
        assert len(data) == block["stored_size"]
        plain = crypto.decrypt_block(key, data)
        start = block["source_offset"]
        expected = source_bytes(block["source_path"])[start:start + block["plaintext_size"]]
        assert plain == expected
        assert crypto.encrypt_block(key, plain) == data
        out = bytearray()
        assert crypto.decrypt_block_into(key, data, out) == expected
        checked += 1
    assert checked == 6


def test_make_encryption_round_trip() -> None:
    enc = crypto.make_encryption(REPO_ID, "new secret pw")
    assert enc.enc_version == 2
    assert len(enc.magic) == 64
    assert len(enc.random_key) == 96
    assert enc.salt == ""
    assert crypto.verify_password(REPO_ID, "new secret pw", enc)
    assert not crypto.verify_password(REPO_ID, "new secret p", enc)
    key = crypto.unlock(REPO_ID, "new secret pw", enc)
    again = crypto.make_encryption(REPO_ID, "new secret pw")
    assert again.magic == enc.magic
    assert again.random_key != enc.random_key, "the secret must be random"
    assert crypto.unlock(REPO_ID, "new secret pw", again) != key


def test_change_password_keeps_the_file_key() -> None:
    changed = crypto.change_password(REPO_ID, PASSWORD, "another one", INFO)
    assert crypto.unlock(REPO_ID, "another one", changed) == crypto.unlock(
        REPO_ID, PASSWORD, INFO)
    assert not crypto.verify_password(REPO_ID, PASSWORD, changed)
    with pytest.raises(PermissionDenied):
        crypto.change_password(REPO_ID, "nope", "x", INFO)


def test_empty_password_is_refused_at_creation() -> None:
    with pytest.raises(InvalidRequest):
        crypto.make_encryption(REPO_ID, "")


def test_other_versions_are_refused() -> None:
    v4 = EncryptionInfo(enc_version=4, magic=INFO.magic, random_key=INFO.random_key,
                        salt="ab" * 32)
    with pytest.raises(InvalidRequest):
        crypto.verify_password(REPO_ID, PASSWORD, v4)


def test_lone_surrogate_password_is_invalid_request() -> None:
    with pytest.raises(InvalidRequest):
        crypto.verify_password(REPO_ID, "\ud800", INFO)


def test_damaged_random_key_is_corrupted() -> None:
    damaged = EncryptionInfo(enc_version=2, magic=INFO.magic,
                             random_key=INFO.random_key[:-2] + "00")
    with pytest.raises(Corrupted):
        crypto.unlock(REPO_ID, PASSWORD, damaged)
    not_hex = EncryptionInfo(enc_version=2, magic=INFO.magic, random_key="zz" * 48)
    with pytest.raises(Corrupted):
        crypto.unlock(REPO_ID, PASSWORD, not_hex)


@pytest.mark.parametrize(("size", "stored"), [(0, 16), (1, 16), (15, 16), (16, 32), (63, 64),
                                              (10485760, 10485776)])
def test_ciphertext_sizes(size: int, stored: int) -> None:
    key = crypto.FileKey(key=bytes(32), iv=bytes(16))
    assert len(crypto.encrypt_block(key, b"\x01" * size)) == stored


keys = st.builds(crypto.FileKey, key=st.binary(min_size=32, max_size=32),
                 iv=st.binary(min_size=16, max_size=16))


@given(keys, st.binary(max_size=2000))
def test_block_round_trip(key: crypto.FileKey, plain: bytes) -> None:
    block = crypto.encrypt_block(key, plain)
    assert len(block) == (len(plain) // 16 + 1) * 16
    assert crypto.decrypt_block(key, block) == plain
    assert crypto.decrypt_block(key, memoryview(bytearray(block))) == plain
    out = bytearray(3)
    assert crypto.decrypt_block_into(key, block, out) == plain


@given(keys, st.binary(max_size=100))
def test_bad_ciphertext_raises_only_corrupted(key: crypto.FileKey, data: bytes) -> None:
    try:
        crypto.decrypt_block(key, data)
    except Corrupted:
        return
    assert len(data) % 16 == 0
    assert data


def test_truncated_block_is_corrupted() -> None:
    key = crypto.FileKey(key=bytes(32), iv=bytes(16))
    block = crypto.encrypt_block(key, b"hello world" * 5)
    for bad in (block[:-1], block[:-16] + bytes(16), b""):
        with pytest.raises(Corrupted):
            crypto.decrypt_block(key, bad)
