"""The Seafile object model: commits, directory and file objects (repo version 1)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sesamedisk.domain.ids import EMPTY_ID

MODE_FILE = 0o100644
MODE_EXECUTABLE = 0o100755
MODE_DIR = 0o040000
SERVER_CREATOR = "0" * 40
"""`creator` of commits made by the server rather than a device."""


@dataclass(frozen=True, slots=True)
class Dirent:
    """One entry of a directory: a file (with size and modifier) or a sub-directory."""

    id: str
    mode: int
    mtime: int
    name: str
    modifier: str | None = None
    size: int | None = None

    @property
    def is_dir(self) -> bool:
        """True when the entry is a directory."""
        return self.mode & 0o170000 == MODE_DIR


def dirent_sort_key(name: str) -> bytes:
    """Seafile orders dirents by name in descending byte order; use with reverse=True."""
    return name.encode("utf-8", "surrogatepass")


@dataclass(frozen=True, slots=True)
class DirObject:
    """A directory object (fs type 3); dirents are kept in Seafile's descending name order."""

    dirents: tuple[Dirent, ...] = ()

    @staticmethod
    def of(dirents: list[Dirent] | tuple[Dirent, ...]) -> DirObject:
        """Build a directory from dirents in any order."""
        return DirObject(tuple(sorted(dirents, key=lambda d: dirent_sort_key(d.name),
                                      reverse=True)))

    def get(self, name: str) -> Dirent | None:
        """The entry called `name`, if any."""
        for dirent in self.dirents:
            if dirent.name == name:
                return dirent
        return None

    @property
    def is_empty(self) -> bool:
        """True when the directory has no entries (its id is then EMPTY_ID)."""
        return not self.dirents


@dataclass(frozen=True, slots=True)
class FileObject:
    """A file object (fs type 1): the ordered blocks whose concatenation is the content."""

    block_ids: tuple[str, ...]
    size: int


FsObject = DirObject | FileObject


@dataclass(frozen=True, slots=True)
class EncryptionInfo:
    """Encryption parameters a library carries in every commit (enc_version 2 and up)."""

    enc_version: int
    magic: str
    random_key: str
    salt: str = ""


@dataclass(frozen=True, slots=True)
class Commit:
    """A commit object; `commit_id` is derived from root, creator, name, description, ctime."""

    commit_id: str
    root_id: str
    repo_id: str
    creator: str
    description: str
    ctime: int
    parent_id: str | None
    second_parent_id: str | None = None
    creator_name: str | None = None
    repo_name: str = ""
    repo_desc: str = ""
    repo_category: str | None = None
    device_name: str | None = None
    client_version: str | None = None
    encryption: EncryptionInfo | None = None
    no_local_history: bool = False
    version: int = 1
    conflict: bool = False
    new_merge: bool = False
    repaired: bool = False
    extra: dict[str, object] = field(default_factory=dict, compare=False)

    @property
    def parents(self) -> tuple[str, ...]:
        """The commit's parents, first parent first."""
        return tuple(p for p in (self.parent_id, self.second_parent_id) if p)

    @property
    def is_empty_root(self) -> bool:
        """True when the commit's tree is empty."""
        return self.root_id == EMPTY_ID
