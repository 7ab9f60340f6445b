"""Seafile library encryption, enc_version 2: password check, key unwrapping, block ciphers."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from sesamedisk.domain.objects import EncryptionInfo
from sesamedisk.errors import Corrupted, InvalidRequest, PermissionDenied

ENC_VERSION = 2
"""The only version the Debian 8.0.10 client (GnuTLS build) can use; the one we create."""
KDF_SALT = bytes.fromhex("da9045c306c7cc26")
"""The fixed PBKDF2 salt of enc_version 2."""
KEY_ITERATIONS = 1000
IV_ITERATIONS = 10
KEY_BYTES = 32
IV_BYTES = 16
SECRET_BYTES = 32
AES_BLOCK = 16


@dataclass(frozen=True, slots=True)
class FileKey:
    """The AES-256 key and the fixed IV that encrypt every block of one library."""

    key: bytes
    iv: bytes

    def __repr__(self) -> str:
        return "FileKey(<secret>)"


def derive(data: bytes) -> tuple[bytes, bytes]:
    """Seafile's v2 key derivation: (PBKDF2 key of `data`, PBKDF2 IV of that key)."""
    key = hashlib.pbkdf2_hmac("sha256", data, KDF_SALT, KEY_ITERATIONS, KEY_BYTES)
    iv = hashlib.pbkdf2_hmac("sha256", key, KDF_SALT, IV_ITERATIONS, IV_BYTES)
    return key, iv


def _utf8(text: str, what: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidRequest(f"{what} must be valid Unicode text") from exc


def _magic(repo_id: str, password: str) -> str:
    return derive(_utf8(repo_id, "library id") + _utf8(password, "password"))[0].hex()


def _require_v2(enc: EncryptionInfo) -> None:
    if enc.enc_version != ENC_VERSION:
        raise InvalidRequest(f"encrypted library version {enc.enc_version} is not supported")


def _pad(data: bytes | bytearray | memoryview) -> tuple[memoryview, bytes]:
    """Split `data` into its whole AES blocks and the PKCS#7-padded final block."""
    view = memoryview(data).cast("B")
    whole = len(view) - len(view) % AES_BLOCK
    pad = AES_BLOCK - len(view) % AES_BLOCK
    return view[:whole], bytes(view[whole:]) + bytes([pad]) * pad


def _cbc_encrypt(key: bytes, iv: bytes, data: bytes | bytearray | memoryview) -> bytes:
    head, last = _pad(data)
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    out = bytearray(len(head) + 2 * AES_BLOCK)
    written = encryptor.update_into(head, out)
    written += encryptor.update_into(last, memoryview(out)[written:])
    encryptor.finalize()
    return bytes(memoryview(out)[:written])


def _check_length(view: memoryview) -> None:
    if not view or len(view) % AES_BLOCK:
        raise Corrupted("encrypted data is not a whole number of AES blocks")


def _padding(plain: bytes | bytearray | memoryview) -> int:
    pad = plain[-1]
    if not 1 <= pad <= AES_BLOCK or not hmac.compare_digest(
            bytes(plain[-pad:]), bytes([pad]) * pad):
        raise Corrupted("encrypted data has invalid padding (wrong key or damaged data)")
    return pad


def _cbc_decrypt(key: bytes, iv: bytes, data: bytes | bytearray | memoryview) -> bytes:
    view = memoryview(data).cast("B")
    _check_length(view)
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    plain = decryptor.update(view) + decryptor.finalize()
    return plain[:-_padding(plain)]


def make_encryption(repo_id: str, password: str) -> EncryptionInfo:
    """Create v2 parameters for a new library: magic and a fresh secret wrapped by `password`."""
    if not password:
        raise InvalidRequest("the library password must not be empty")
    secret = secrets.token_bytes(SECRET_BYTES)
    wrap_key, wrap_iv = derive(_utf8(password, "password"))
    return EncryptionInfo(enc_version=ENC_VERSION, magic=_magic(repo_id, password),
                          random_key=_cbc_encrypt(wrap_key, wrap_iv, secret).hex())


def verify_password(repo_id: str, password: str, enc: EncryptionInfo) -> bool:
    """True when `password` opens the library (constant-time comparison with `magic`)."""
    _require_v2(enc)
    return hmac.compare_digest(_magic(repo_id, password).encode("ascii"),
                               enc.magic.lower().encode("utf-8"))


def _unwrap_secret(password: str, enc: EncryptionInfo) -> bytes:
    try:
        wrapped = bytes.fromhex(enc.random_key)
    except ValueError as exc:
        raise Corrupted("the library's random_key is not hex") from exc
    wrap_key, wrap_iv = derive(_utf8(password, "password"))
    secret = _cbc_decrypt(wrap_key, wrap_iv, wrapped)
    if len(secret) != SECRET_BYTES:
        raise Corrupted("the library's random_key does not hold a 32-byte secret")
    return secret


def unlock(repo_id: str, password: str, enc: EncryptionInfo) -> FileKey:
    """Check `password` and return the library's block key; PermissionDenied if it is wrong."""
    if not verify_password(repo_id, password, enc):
        raise PermissionDenied("wrong password")
    key, iv = derive(_unwrap_secret(password, enc))
    return FileKey(key=key, iv=iv)


def change_password(repo_id: str, old_password: str, new_password: str,
                    enc: EncryptionInfo) -> EncryptionInfo:
    """Re-wrap the library secret under `new_password`; blocks stay valid."""
    if not verify_password(repo_id, old_password, enc):
        raise PermissionDenied("wrong password")
    if not new_password:
        raise InvalidRequest("the library password must not be empty")
    secret = _unwrap_secret(old_password, enc)
    wrap_key, wrap_iv = derive(_utf8(new_password, "password"))
    return EncryptionInfo(enc_version=ENC_VERSION, magic=_magic(repo_id, new_password),
                          random_key=_cbc_encrypt(wrap_key, wrap_iv, secret).hex(),
                          salt=enc.salt)


def encrypt_block(file_key: FileKey, plaintext: bytes | bytearray | memoryview) -> bytes:
    """AES-256-CBC with PKCS#7 and the library's fixed IV; no IV is stored in the block."""
    return _cbc_encrypt(file_key.key, file_key.iv, plaintext)


def decrypt_block(file_key: FileKey, ciphertext: bytes | bytearray | memoryview) -> bytes:
    """Inverse of encrypt_block; raise Corrupted on a bad length or bad padding."""
    return _cbc_decrypt(file_key.key, file_key.iv, ciphertext)


def decrypt_block_into(file_key: FileKey, ciphertext: bytes | bytearray | memoryview,
                       out: bytearray) -> memoryview:
    """Like decrypt_block but into the reusable buffer `out` (grown if needed).

    Returns a view of the plaintext inside `out`, valid until `out` is reused; this avoids a
    fresh multi-MiB allocation per block on download paths.
    """
    view = memoryview(ciphertext).cast("B")
    _check_length(view)
    if len(out) < len(view) + AES_BLOCK:
        out.extend(bytes(len(view) + AES_BLOCK - len(out)))
    decryptor = Cipher(algorithms.AES(file_key.key), modes.CBC(file_key.iv)).decryptor()
    written = decryptor.update_into(view, out)
    decryptor.finalize()
    plain = memoryview(out)[:written]
    return plain[:written - _padding(plain)]
