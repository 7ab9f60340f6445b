"""Golden tests: the codec reproduces, byte for byte, the objects captured from the real client."""

from __future__ import annotations

import hashlib
import zlib

import pytest

from sesamedisk.domain import codec, crypto, pack
from sesamedisk.domain.ids import EMPTY_ID
from sesamedisk.domain.objects import Dirent, DirObject, FileObject
from tests.seafile_fixtures import FIXTURES, MANIFEST, fixture_tree

LIBRARIES = ("plain", "encrypted")


def fs_ids(library: str) -> list[str]:
    return sorted(p.name for p in (FIXTURES / library / "fs").iterdir() if "." not in p.name)


ALL_FS = [(lib, oid) for lib in LIBRARIES for oid in fs_ids(lib)]


def test_every_fixture_fs_object_is_listed() -> None:
    for lib in LIBRARIES:
        assert set(fs_ids(lib)) == set(MANIFEST["libraries"][lib]["fs_objects"])
        assert len(fs_ids(lib)) == 9


@pytest.mark.parametrize(("library", "object_id"), ALL_FS)
def test_fs_object_round_trips_byte_exact(library: str, object_id: str) -> None:
    raw = (FIXTURES / library / "fs" / object_id).read_bytes()
    text = (FIXTURES / library / "fs" / f"{object_id}.json").read_bytes()
    assert zlib.decompress(raw) == text
    assert codec.decompress(raw) == text
    assert codec.sha1_hex(text) == object_id
    obj = codec.decode_fs(raw)
    assert codec.encode_fs(obj) == text
    assert codec.fs_id(obj) == object_id
    assert codec.verify_fs(object_id, raw) == obj
    new_id, stored = codec.encode_fs_object(obj)
    assert new_id == object_id
    assert codec.decompress(stored) == text
    kind = MANIFEST["libraries"][library]["fs_objects"][object_id]["type"]
    assert isinstance(obj, FileObject if kind == codec.FS_TYPE_FILE else DirObject)


@pytest.mark.parametrize("library", LIBRARIES)
def test_commit_round_trips_and_id_recomputes(library: str) -> None:
    info = MANIFEST["libraries"][library]
    raw = (FIXTURES / info["commit_file"]).read_bytes()
    commit = codec.verify_commit(info["commit_id"], raw)
    assert commit.commit_id == info["commit_id"]
    assert commit.root_id == info["root_id"]
    assert commit.parent_id == info["parent_id"]
    assert codec.encode_commit(commit) == raw
    assert codec.commit_id(root_id=commit.root_id, creator=commit.creator,
                           creator_name=commit.creator_name, description=commit.description,
                           ctime=commit.ctime) == info["commit_id"]
    if library == "encrypted":
        enc = info["encryption"]
        assert commit.encryption is not None
        assert commit.encryption.magic == enc["magic"]
        assert commit.encryption.random_key == enc["random_key"]
    else:
        assert commit.encryption is None


@pytest.mark.parametrize("library", LIBRARIES)
def test_recv_fs_body_parses_into_exactly_the_fs_objects(library: str) -> None:
    body = (FIXTURES / library / "recv-fs-request-body.bin").read_bytes()
    records = list(pack.iter_pack(body))
    assert sorted(oid for oid, _ in records) == fs_ids(library)
    for object_id, raw in records:
        assert raw == (FIXTURES / library / "fs" / object_id).read_bytes()
        codec.verify_fs(object_id, raw)
    assert pack.encode_pack(records) == body


def test_first_record_of_plain_recv_fs_matches_spec() -> None:
    body = (FIXTURES / "plain" / "recv-fs-request-body.bin").read_bytes()
    assert body[:40] == MANIFEST["libraries"]["plain"]["root_id"].encode()
    assert body[40:44] == bytes.fromhex("00000177")
    assert body[44:46] == b"\x78\x9c"


@pytest.mark.parametrize("library", LIBRARIES)
def test_manifest_paths_match_decoded_tree(library: str) -> None:
    info = MANIFEST["libraries"][library]
    objects = {oid: codec.decode_fs((FIXTURES / library / "fs" / oid).read_bytes())
               for oid in fs_ids(library)}
    found: dict[str, Dirent] = {}
    pending = [("", info["root_id"])]
    while pending:
        prefix, dir_id = pending.pop()
        directory = objects[dir_id] if dir_id != EMPTY_ID else DirObject()
        assert isinstance(directory, DirObject)
        for dirent in directory.dirents:
            found[f"{prefix}/{dirent.name}"] = dirent
            if dirent.is_dir:
                pending.append((f"{prefix}/{dirent.name}", dirent.id))
    assert set(found) == set(info["paths"])
    for path, expected in info["paths"].items():
        dirent = found[path]
        assert dirent.id == expected["fs_id"]
        assert dirent.mode == expected["mode"]
        assert dirent.mtime == expected["mtime"]
        if expected["type"] == "file":
            assert dirent.size == expected["size"]
            assert dirent.modifier == expected["modifier"]
            if dirent.id != EMPTY_ID:
                obj = objects[dirent.id]
                assert isinstance(obj, FileObject)
                assert list(obj.block_ids) == expected["block_ids"]
                assert obj.size == expected["size"]


@pytest.mark.parametrize("library", LIBRARIES)
def test_stored_blocks_hash_to_their_ids(library: str) -> None:
    for path in (FIXTURES / library / "blocks").iterdir():
        assert hashlib.sha1(path.read_bytes()).hexdigest() == path.name


def test_hello_txt_vectors() -> None:
    content = b"Hello, Seafile!\n"
    assert hashlib.sha1(content).hexdigest() == "2584b5c55a767752ca33bd0f79bdd6be4b1fd8ab"
    assert (FIXTURES / "plain" / "blocks" / "2584b5c55a767752ca33bd0f79bdd6be4b1fd8ab"
            ).read_bytes() == content
    obj = FileObject(block_ids=(codec.sha1_hex(content),), size=len(content))
    assert codec.encode_fs(obj) == (
        b'{"block_ids": ["2584b5c55a767752ca33bd0f79bdd6be4b1fd8ab"], "size": 16, '
        b'"type": 1, "version": 1}')
    assert codec.fs_id(obj) == "b120c22963f8359d83496c2fc9fb8fa61ba455dc"


def test_spec_dir_ids() -> None:
    paths = MANIFEST["libraries"]["plain"]["paths"]
    assert paths["/docs/nested"]["fs_id"] == "496fefe27fe09cf2e9841dce428e055553984033"
    assert paths["/docs"]["fs_id"] == "c61727da194ab6e1e6474febe4696573a927e4ba"
    assert MANIFEST["libraries"]["plain"]["root_id"] == "92202b15dc92c8f1fb6d2bb43d18d99ef30aa8e5"


def test_rebuilding_the_plain_tree_from_the_source_gives_the_client_ids() -> None:
    """Build every object from fixture_tree.py's content alone; ids must equal the client's."""
    tree = fixture_tree()
    mtime, modifier = tree.FIXED_MTIME, "user@example.com"

    def file_dirent(name: str, data: bytes, executable: bool = False) -> Dirent:
        blocks = tuple(codec.sha1_hex(data[i:i + 10485760])
                       for i in range(0, len(data), 10485760))
        obj = FileObject(block_ids=blocks, size=len(data))
        return Dirent(id=codec.fs_id(obj), mode=0o100755 if executable else 0o100644,
                      mtime=mtime, name=name, modifier=modifier, size=len(data))

    def dir_dirent(name: str, dirents: list[Dirent]) -> Dirent:
        return Dirent(id=codec.fs_id(DirObject.of(dirents)), mode=0o040000, mtime=mtime,
                      name=name)

    texts = tree.TEXT_FILES
    nested = dir_dirent("nested", [file_dirent("deep.txt", texts["docs/nested/deep.txt"])])
    assert nested.id == "496fefe27fe09cf2e9841dce428e055553984033"
    docs = dir_dirent("docs", [file_dirent("readme.md", texts["docs/readme.md"]), nested])
    assert docs.id == "c61727da194ab6e1e6474febe4696573a927e4ba"
    top = [docs, dir_dirent("emptydir", []), file_dirent(tree.BIG_NAME, tree.big_bytes())]
    for rel, data in texts.items():
        if "/" not in rel:
            top.append(file_dirent(rel, data, executable=rel in tree.EXECUTABLE))
    assert codec.fs_id(DirObject.of(top)) == "92202b15dc92c8f1fb6d2bb43d18d99ef30aa8e5"


def test_big_bin_plain_blocks() -> None:
    big = fixture_tree().big_bytes()
    assert len(big) == 10498105
    assert codec.sha1_hex(big[:10485760]) == "315417f983e2e3b356e14cf58ba72f6899ad7720"
    tail = big[10485760:]
    assert codec.sha1_hex(tail) == "7e56c6f11caef98db0017113711ae3989c7b8fa1"
    assert (FIXTURES / "plain" / "blocks" / "7e56c6f11caef98db0017113711ae3989c7b8fa1"
            ).read_bytes() == tail
    obj = FileObject(block_ids=("315417f983e2e3b356e14cf58ba72f6899ad7720",
                                "7e56c6f11caef98db0017113711ae3989c7b8fa1"), size=len(big))
    assert codec.fs_id(obj) == "7dd57ba28a96c4be5c04fe8d671a5bf01ecab3ca"


def test_big_bin_encrypted_10mib_block() -> None:
    info = MANIFEST["libraries"]["encrypted"]
    enc = info["encryption"]
    key = crypto.FileKey(key=bytes.fromhex(enc["file_key_hex"]),
                         iv=bytes.fromhex(enc["file_iv_hex"]))
    plain = fixture_tree().big_bytes(0, 10485760)
    block = crypto.encrypt_block(key, plain)
    assert len(block) == 10485776
    expected = [bid for bid, b in info["blocks"].items()
                if b["source_path"] == "/big.bin" and b["source_offset"] == 0]
    assert expected == [codec.sha1_hex(block)]
    assert info["blocks"][expected[0]]["stored_size"] == len(block)
    assert crypto.decrypt_block(key, block) == plain
