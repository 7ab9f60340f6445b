"""Byte-exact Seafile encoding of fs objects and commits, and the ids computed from them."""

from __future__ import annotations

import hashlib
import json
import re
import struct
import zlib
from collections.abc import Mapping
from typing import Any

from isal import isal_zlib

from sesamedisk.domain.ids import EMPTY_ID, is_library_id, is_object_id
from sesamedisk.domain.objects import (
    Commit,
    Dirent,
    DirObject,
    EncryptionInfo,
    FileObject,
    FsObject,
)
from sesamedisk.errors import InvalidRequest

FS_TYPE_FILE = 1
FS_TYPE_DIR = 3
_LOWER_HEX_ESCAPE = re.compile(r"(\\\\)|\\u00([0-9a-f]{2})")
MAX_FS_OBJECT_BYTES = 64 * 1024 * 1024
"""Largest decompressed fs object accepted (a directory of roughly 500,000 entries)."""


def _upper_hex(match: re.Match[str]) -> str:
    if match.group(1):
        return match.group(1)
    return "\\u00" + match.group(2).upper()


def dumps_jansson(value: Any, *, sort_keys: bool) -> bytes:
    """Serialise like jansson: `", "`/`": "` separators, raw UTF-8, upper-case `\\u00XX`."""
    text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "), sort_keys=sort_keys)
    if "\\u00" in text:
        text = _LOWER_HEX_ESCAPE.sub(_upper_hex, text)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidRequest("names must be valid Unicode text") from exc


def sha1_hex(data: bytes | bytearray | memoryview) -> str:
    """Hex SHA-1 of `data`: the id of a block or of an fs object's JSON text."""
    return hashlib.sha1(data).hexdigest()


def _dirent_json(dirent: Dirent) -> dict[str, Any]:
    out: dict[str, Any] = {"id": dirent.id, "mode": dirent.mode, "mtime": dirent.mtime,
                           "name": dirent.name}
    if not dirent.is_dir:
        if dirent.modifier is not None:
            out["modifier"] = dirent.modifier
        out["size"] = dirent.size or 0
    return out


def encode_fs(obj: FsObject) -> bytes:
    """The exact JSON text of an fs object (what its id is the SHA-1 of)."""
    if isinstance(obj, FileObject):
        value: dict[str, Any] = {"block_ids": list(obj.block_ids), "size": obj.size,
                                 "type": FS_TYPE_FILE, "version": 1}
    else:
        value = {"dirents": [_dirent_json(d) for d in obj.dirents], "type": FS_TYPE_DIR,
                 "version": 1}
    return dumps_jansson(value, sort_keys=True)


def fs_id(obj: FsObject) -> str:
    """The id of an fs object; EMPTY_ID for an empty directory or empty file."""
    if isinstance(obj, DirObject) and obj.is_empty:
        return EMPTY_ID
    if isinstance(obj, FileObject) and obj.size == 0 and not obj.block_ids:
        return EMPTY_ID
    return sha1_hex(encode_fs(obj))


def compress(json_text: bytes) -> bytes:
    """zlib-compress fs JSON for storage and transfer (any zlib stream is valid)."""
    return isal_zlib.compress(json_text, 2)


def decompress(raw: bytes) -> bytes:
    """Inflate a stored fs object, refusing malformed or oversized streams."""
    try:
        inflater = zlib.decompressobj()
        text = inflater.decompress(raw, MAX_FS_OBJECT_BYTES)
        if inflater.unconsumed_tail:
            raise InvalidRequest("fs object is too large")
        if not inflater.eof:
            raise InvalidRequest("fs object zlib stream is truncated")
        if inflater.unused_data:
            raise InvalidRequest("fs object has bytes after its zlib stream")
    except zlib.error as exc:
        raise InvalidRequest(f"fs object is not a zlib stream: {exc}") from exc
    return text


def encode_fs_object(obj: FsObject) -> tuple[str, bytes]:
    """Return (id, compressed bytes) of an fs object, ready to store."""
    text = encode_fs(obj)
    return sha1_hex(text), compress(text)


def _require(cond: bool, message: str) -> None:
    if not cond:
        raise InvalidRequest(message)


def _int(value: object, what: str) -> int:
    _require(isinstance(value, int) and not isinstance(value, bool), f"{what} must be an integer")
    assert isinstance(value, int)
    return value


def _decode_dirent(item: object) -> Dirent:
    _require(isinstance(item, dict), "dirent must be an object")
    assert isinstance(item, dict)
    name = item.get("name")
    _require(isinstance(name, str) and name not in ("", ".", "..") and "/" not in name,
             "dirent name is invalid")
    _require(is_object_id(item.get("id")), "dirent id is invalid")
    modifier = item.get("modifier")
    _require(modifier is None or isinstance(modifier, str), "dirent modifier is invalid")
    size = item.get("size")
    if size is not None:
        _require(_int(size, "dirent size") >= 0, "dirent size is negative")
    return Dirent(id=item["id"], mode=_int(item.get("mode"), "dirent mode"),
                  mtime=_int(item.get("mtime", 0), "dirent mtime"), name=str(name),
                  modifier=modifier, size=size)


def _json_object(raw: bytes, what: str) -> Any:
    """Parse `raw` as one JSON object, or raise InvalidRequest naming `what`."""
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise InvalidRequest(f"{what} is not valid JSON") from exc
    _require(isinstance(value, dict), f"{what} must be a JSON object")
    assert isinstance(value, dict)
    return value


def decode_fs_json(text: bytes) -> FsObject:
    """Parse the JSON text of a version-1 fs object."""
    value = _json_object(text, "fs object")
    kind = value.get("type")
    if kind == FS_TYPE_FILE:
        blocks = value.get("block_ids")
        _require(isinstance(blocks, list) and all(is_object_id(b) for b in blocks),
                 "file object block_ids are invalid")
        size = _int(value.get("size"), "file size")
        _require(size >= 0, "file size is negative")
        return FileObject(block_ids=tuple(blocks), size=size)
    if kind == FS_TYPE_DIR:
        dirents = value.get("dirents")
        _require(isinstance(dirents, list), "dir object dirents are invalid")
        decoded = [_decode_dirent(d) for d in dirents]
        _require(len({d.name for d in decoded}) == len(decoded), "dir object repeats a name")
        return DirObject.of(decoded)
    raise InvalidRequest(f"unsupported fs object type {kind!r}")


def decode_fs(raw: bytes) -> FsObject:
    """Parse a stored (compressed) fs object."""
    return decode_fs_json(decompress(raw))


def verify_fs(object_id: str, raw: bytes) -> FsObject:
    """Decode a received fs object and check its id; raise InvalidRequest on mismatch."""
    text = decompress(raw)
    if sha1_hex(text) != object_id:
        raise InvalidRequest(f"fs object {object_id} does not match its content")
    return decode_fs_json(text)


def commit_id(*, root_id: str, creator: str, creator_name: str | None, description: str,
              ctime: int) -> str:
    """Seafile's commit id: SHA-1 over root, creator, [creator_name], description, ctime."""
    h = hashlib.sha1()
    try:
        h.update(root_id.encode("ascii") + b"\0")
        h.update(creator.encode("ascii") + b"\0")
        if creator_name is not None:
            h.update(creator_name.encode("utf-8") + b"\0")
        h.update(description.encode("utf-8") + b"\0")
        h.update(struct.pack(">q", ctime))
    except (UnicodeEncodeError, struct.error) as exc:
        raise InvalidRequest(f"commit fields cannot be hashed: {exc}") from exc
    return h.hexdigest()


_COMMIT_KNOWN = frozenset({
    "commit_id", "root_id", "repo_id", "creator_name", "creator", "description", "ctime",
    "parent_id", "second_parent_id", "repo_name", "repo_desc", "repo_category", "device_name",
    "client_version", "encrypted", "enc_version", "magic", "key", "salt", "no_local_history",
    "version", "conflict", "new_merge", "repaired",
})


def encode_commit(commit: Commit) -> bytes:
    """JSON bytes of a commit, members in the order the Seafile client writes them."""
    value: dict[str, Any] = {
        "commit_id": commit.commit_id, "root_id": commit.root_id, "repo_id": commit.repo_id,
    }
    if commit.creator_name is not None:
        value["creator_name"] = commit.creator_name
    value.update({
        "creator": commit.creator, "description": commit.description, "ctime": commit.ctime,
        "parent_id": commit.parent_id, "second_parent_id": commit.second_parent_id,
        "repo_name": commit.repo_name, "repo_desc": commit.repo_desc,
        "repo_category": commit.repo_category,
    })
    if commit.device_name is not None:
        value["device_name"] = commit.device_name
    if commit.client_version is not None:
        value["client_version"] = commit.client_version
    enc = commit.encryption
    if enc is not None:
        value.update({"encrypted": "true", "enc_version": enc.enc_version, "magic": enc.magic})
        if enc.enc_version >= 2:
            value["key"] = enc.random_key
        if enc.enc_version >= 3:
            value["salt"] = enc.salt
    if commit.no_local_history:
        value["no_local_history"] = 1
    value["version"] = commit.version
    for flag in ("conflict", "new_merge", "repaired"):
        if getattr(commit, flag):
            value[flag] = 1
    value.update({k: v for k, v in commit.extra.items() if k not in value})
    return dumps_jansson(value, sort_keys=False)


def _opt_str(value: Mapping[str, Any], key: str) -> str | None:
    item = value.get(key)
    _require(item is None or isinstance(item, str), f"commit {key} must be a string")
    return item


def _opt_id(value: Mapping[str, Any], key: str) -> str | None:
    item = value.get(key)
    _require(item is None or is_object_id(item), f"commit {key} is not a valid id")
    return item


def _decode_encryption(value: Mapping[str, Any]) -> EncryptionInfo | None:
    if value.get("encrypted") not in ("true", True, 1):
        return None
    version = _int(value.get("enc_version"), "commit enc_version")
    magic = value.get("magic")
    key = value.get("key", "")
    salt = value.get("salt", "")
    _require(isinstance(magic, str) and isinstance(key, str) and isinstance(salt, str),
             "commit encryption fields must be strings")
    assert isinstance(magic, str)
    assert isinstance(key, str)
    assert isinstance(salt, str)
    _require(version < 2 or (len(magic) == 64 and len(key) == 96),
             "commit magic/key have the wrong length")
    return EncryptionInfo(enc_version=version, magic=magic, random_key=key, salt=salt)


def decode_commit(raw: bytes) -> Commit:
    """Parse commit JSON and validate it as the Seafile client does."""
    value = _json_object(raw, "commit")
    _require(is_object_id(value.get("commit_id")), "commit_id is invalid")
    _require(is_object_id(value.get("root_id")), "commit root_id is invalid")
    _require(is_library_id(value.get("repo_id")), "commit repo_id is invalid")
    creator = value.get("creator")
    _require(isinstance(creator, str) and len(creator) == 40, "commit creator is invalid")
    description = value.get("description") or ""
    _require(isinstance(description, str), "commit description must be a string")
    return Commit(
        commit_id=value["commit_id"], root_id=value["root_id"], repo_id=value["repo_id"],
        creator=creator, description=description, ctime=_int(value.get("ctime"), "commit ctime"),
        parent_id=_opt_id(value, "parent_id"), second_parent_id=_opt_id(value, "second_parent_id"),
        creator_name=_opt_str(value, "creator_name"),
        repo_name=_opt_str(value, "repo_name") or "", repo_desc=_opt_str(value, "repo_desc") or "",
        repo_category=_opt_str(value, "repo_category"),
        device_name=_opt_str(value, "device_name"),
        client_version=_opt_str(value, "client_version"),
        encryption=_decode_encryption(value),
        no_local_history=bool(value.get("no_local_history")),
        version=_int(value.get("version", 0), "commit version"),
        conflict=bool(value.get("conflict")), new_merge=bool(value.get("new_merge")),
        repaired=bool(value.get("repaired")),
        extra={k: v for k, v in value.items() if k not in _COMMIT_KNOWN},
    )


def verify_commit(expected_id: str, raw: bytes) -> Commit:
    """Decode a received commit and check that its id is the id it claims and was sent as."""
    commit = decode_commit(raw)
    computed = commit_id(root_id=commit.root_id, creator=commit.creator,
                         creator_name=commit.creator_name, description=commit.description,
                         ctime=commit.ctime)
    if commit.commit_id != expected_id or computed != expected_id:
        raise InvalidRequest(f"commit {expected_id} does not match its content")
    return commit
