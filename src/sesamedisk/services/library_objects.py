"""Typed access to one library's commits and fs objects over the ObjectStore port."""

from __future__ import annotations

from sesamedisk.domain import codec
from sesamedisk.domain.ids import EMPTY_ID
from sesamedisk.domain.objects import Commit, DirObject, FileObject, FsObject
from sesamedisk.errors import Corrupted, ObjectNotFound
from sesamedisk.ports.objects import ObjectKind, ObjectStore


class LibraryObjects:
    """Reads and writes one library's objects; also serves as the tree's FsReader/FsWriter."""

    def __init__(self, store: ObjectStore, library_id: str) -> None:
        self.store = store
        self.library_id = library_id

    def load_fs(self, fs_id: str) -> FsObject:
        """Decode the fs object with this id, checking it against the id."""
        raw = self.store.get(ObjectKind.FS, self.library_id, fs_id)
        text = codec.decompress(raw)
        if codec.sha1_hex(text) != fs_id:
            raise Corrupted(f"fs object {fs_id} of library {self.library_id} is corrupted")
        return codec.decode_fs_json(text)

    def load_dir(self, dir_id: str) -> DirObject:
        """The directory with this id (EMPTY_ID is the empty directory)."""
        if dir_id == EMPTY_ID:
            return DirObject()
        obj = self.load_fs(dir_id)
        if not isinstance(obj, DirObject):
            raise Corrupted(f"fs object {dir_id} is a file where a directory was expected")
        return obj

    def load_file(self, file_id: str) -> FileObject:
        """The file object with this id (EMPTY_ID is the empty file)."""
        if file_id == EMPTY_ID:
            return FileObject(block_ids=(), size=0)
        obj = self.load_fs(file_id)
        if not isinstance(obj, FileObject):
            raise Corrupted(f"fs object {file_id} is a directory where a file was expected")
        return obj

    def put(self, obj: FsObject) -> str:
        """Store an fs object and return its id (EMPTY_ID objects are not stored)."""
        object_id = codec.fs_id(obj)
        if object_id != EMPTY_ID:
            text = codec.encode_fs(obj)
            self.store.put(ObjectKind.FS, self.library_id, object_id, codec.compress(text))
        return object_id

    def load_commit(self, commit_id: str) -> Commit:
        """Decode a commit of this library."""
        raw = self.store.get(ObjectKind.COMMIT, self.library_id, commit_id)
        return codec.decode_commit(raw)

    def raw_commit(self, commit_id: str) -> bytes:
        """The commit's bytes exactly as stored."""
        return self.store.get(ObjectKind.COMMIT, self.library_id, commit_id)

    def save_commit(self, commit: Commit) -> None:
        """Store a server-made commit."""
        self.store.put(ObjectKind.COMMIT, self.library_id, commit.commit_id,
                       codec.encode_commit(commit))

    def root_of(self, commit_id: str | None) -> str:
        """Root dir id of a commit; EMPTY_ID for None or a commit that is not stored."""
        if commit_id is None:
            return EMPTY_ID
        try:
            return self.load_commit(commit_id).root_id
        except ObjectNotFound:
            return EMPTY_ID
