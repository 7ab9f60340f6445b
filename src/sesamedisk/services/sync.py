"""The Seafile sync protocol's use cases, authorised by repo (sync) tokens."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sesamedisk.domain import codec, tree
from sesamedisk.domain.access import can_read, can_write
from sesamedisk.domain.ids import EMPTY_ID, is_library_id, is_object_id, require_object_id
from sesamedisk.domain.merge import conflict_timestamp, merge_trees
from sesamedisk.domain.pack import encode_pack, iter_pack
from sesamedisk.domain.records import Library, User
from sesamedisk.errors import (
    HeadMoved,
    InvalidRequest,
    ObjectNotFound,
    PermissionDenied,
    TooLarge,
)
from sesamedisk.ports.deps import Deps
from sesamedisk.ports.objects import ObjectKind, ObjectWriter
from sesamedisk.services.commits import (
    MAX_HEAD_RETRIES,
    build_commit,
    load_writable_library,
    require_complete,
    require_live,
    store_new_commit,
)
from sesamedisk.services.library_objects import LibraryObjects

MAX_IDS_PER_REQUEST = 1000
MERGE_DESCRIPTION = "Auto merge by system"


@dataclass(frozen=True)
class SyncSession:
    """A sync request authorised for (library, user)."""

    library: Library
    user: User


def open_session(deps: Deps, token: str | None, library_id: str, *,
                 write: bool = False) -> SyncSession:
    """Check a repo token against a library; LibraryDeleted (444) once the library is gone."""
    if not token:
        raise PermissionDenied("missing Seafile-Repo-Token")
    if not is_library_id(library_id):
        raise InvalidRequest("invalid library id")
    with deps.uow() as uow:
        record = uow.repo_tokens.get(token)
        valid = record is not None and record.library_id == library_id
        user = uow.users.get(record.user_id) if record and valid else None
        found = uow.libraries.get(library_id, include_deleted=True) if user else None
    if user is None:
        raise PermissionDenied("invalid repo token for this library")
    library = require_live(found, library_id)
    if not can_read(user, library):
        raise PermissionDenied("no permission to access this library")
    if write and not can_write(user, library):
        raise PermissionDenied("no write permission")
    return SyncSession(library=library, user=user)


def check_permission(deps: Deps, token: str | None, library_id: str, op: str) -> SyncSession:
    """permission-check: op "download" needs read access, "upload" write access."""
    if op not in ("download", "upload"):
        raise InvalidRequest("op must be download or upload")
    return open_session(deps, token, library_id, write=op == "upload")


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def check_quota(session: SyncSession, delta: str | None) -> None:
    """quota-check: quotas are not limited yet; delta must still be a 64-bit integer."""
    if delta is None:
        raise InvalidRequest("query parameter delta is required")
    try:
        value = int(delta)
    except ValueError as exc:
        raise InvalidRequest("delta must be an integer") from exc
    if not INT64_MIN <= value <= INT64_MAX:
        raise InvalidRequest("delta is outside the 64-bit integer range")


def _objects(deps: Deps, session: SyncSession) -> LibraryObjects:
    return LibraryObjects(deps.objects, session.library.id)


def get_commit(deps: Deps, session: SyncSession, commit_id: str) -> bytes:
    """A commit's raw bytes."""
    return _objects(deps, session).raw_commit(require_object_id(commit_id, "commit id"))


def put_commit(deps: Deps, session: SyncSession, commit_id: str, raw: bytes) -> None:
    """Store a commit uploaded by a client (before the objects it references)."""
    require_object_id(commit_id, "commit id")
    commit = codec.verify_commit(commit_id, raw)
    if commit.repo_id != session.library.id:
        raise InvalidRequest("commit belongs to another library")
    deps.objects.put(ObjectKind.COMMIT, session.library.id, commit_id, raw)


def missing_objects(deps: Deps, session: SyncSession, kind: ObjectKind,
                    ids: Iterable[object]) -> list[str]:
    """check-fs / check-blocks: the ids the server lacks (EMPTY_ID always counts as present)."""
    wanted = [i for i in ids if is_object_id(i) and i != EMPTY_ID]
    if len(wanted) > MAX_IDS_PER_REQUEST:
        raise TooLarge(f"at most {MAX_IDS_PER_REQUEST} ids per request")
    return deps.objects.missing(kind, session.library.id, [str(i) for i in wanted])


def receive_fs(deps: Deps, session: SyncSession, body: bytes) -> int:
    """recv-fs: verify and store every fs object of a pack; returns how many."""
    records = list(iter_pack(body))
    for object_id, raw in records:
        codec.verify_fs(object_id, raw)
    for object_id, raw in records:
        deps.objects.put(ObjectKind.FS, session.library.id, object_id, raw)
    return len(records)


def pack_fs(deps: Deps, session: SyncSession, ids: list[object]) -> bytes:
    """pack-fs: the requested fs objects framed as a pack; an unknown id is an error."""
    if len(ids) > MAX_IDS_PER_REQUEST:
        raise TooLarge(f"at most {MAX_IDS_PER_REQUEST} ids per request")
    records = []
    for item in ids:
        object_id = require_object_id(item, "fs id")
        records.append((object_id, deps.objects.get(ObjectKind.FS, session.library.id,
                                                    object_id)))
    return encode_pack(records)


def fs_id_list(deps: Deps, session: SyncSession, server_head: str,
               client_head: str | None) -> list[str]:
    """fs-id-list: fs ids of the server head's tree not already in the client head's."""
    objects = _objects(deps, session)
    new_root = objects.load_commit(require_object_id(server_head, "server-head")).root_id
    if client_head:
        old_root = objects.root_of(require_object_id(client_head, "client-head"))
        return list(tree.new_fs_ids(objects, new_root, old_root))
    return list(tree.reachable_fs_ids(objects, new_root))


def open_block_upload(deps: Deps, session: SyncSession, block_id: str) -> ObjectWriter:
    """Start receiving a block; finish with `finish_block_upload`."""
    require_object_id(block_id, "block id")
    return deps.objects.open_writer(ObjectKind.BLOCK, session.library.id)


def finish_block_upload(writer: ObjectWriter, block_id: str) -> None:
    """Store a received block, refusing it when its bytes do not hash to its id."""
    if writer.digest != block_id:
        writer.abort()
        raise InvalidRequest(f"block {block_id} does not match its content")
    writer.commit(block_id)


def get_block(deps: Deps, session: SyncSession, block_id: str) -> bytes:
    """A block's bytes (the store checks them against the id)."""
    return deps.objects.get(ObjectKind.BLOCK, session.library.id,
                            require_object_id(block_id, "block id"))


def head_commits(deps: Deps, library_ids: list[object]) -> dict[str, str]:
    """head-commits-multi: heads of the listed live libraries (unknown ones left out)."""
    if len(library_ids) > MAX_IDS_PER_REQUEST:
        raise TooLarge(f"at most {MAX_IDS_PER_REQUEST} ids per request")
    valid = [str(i) for i in library_ids if is_library_id(i)]
    with deps.uow() as uow:
        return uow.libraries.heads(valid)


def _usable_base(objects: LibraryObjects, base_root: str) -> str:
    """The client's base tree, or the empty tree once history retention collected it.

    With an empty base every object of the new tree is checked, and a merge keeps both
    sides (conflict copies where they differ) instead of failing.
    """
    if base_root != EMPTY_ID and objects.store.missing(ObjectKind.FS, objects.library_id,
                                                       [base_root]):
        return EMPTY_ID
    return base_root


def update_head(deps: Deps, session: SyncSession, commit_id: str) -> str:
    """Move the head to an uploaded commit: fast-forward, or a server-side three-way merge."""
    require_object_id(commit_id, "head")
    objects = _objects(deps, session)
    try:
        commit = objects.load_commit(commit_id)
    except ObjectNotFound as exc:
        raise InvalidRequest(f"commit {commit_id} has not been uploaded") from exc
    if commit.repo_id != session.library.id:
        raise InvalidRequest("commit belongs to another library")
    base_root = _usable_base(objects, objects.root_of(commit.parent_id))
    checked_epoch: int | None = None
    for _ in range(MAX_HEAD_RETRIES):
        library = load_writable_library(deps, session.library.id)
        head = library.head
        if head == commit_id:
            return head
        if checked_epoch != library.gc_epoch:
            # Garbage collection may have deleted objects since the last check.
            require_complete(objects, commit.root_id, base_root)
            deps.objects.flush()
            checked_epoch = library.gc_epoch
        if commit.parent_id == head:
            new_head = commit_id
        else:
            head_root = objects.root_of(head)
            now = deps.clock()
            result = merge_trees(objects, objects, base_root=base_root, head_root=head_root,
                                 new_root=commit.root_id, conflict_email=session.user.email,
                                 timestamp=conflict_timestamp(now))
            merged = store_new_commit(objects, build_commit(
                library, root_id=result.root_id, parent_id=head, second_parent_id=commit_id,
                author_email=session.user.email, description=MERGE_DESCRIPTION, ctime=now,
                conflict=bool(result.conflicts), new_merge=True))
            new_head = merged.commit_id
            deps.objects.flush()
        with deps.uow() as uow:
            moved = uow.libraries.advance_head(library.id, expected=head, new=new_head,
                                               now=deps.clock(), gc_epoch=library.gc_epoch)
            uow.commit()
        if moved:
            return new_head
    raise HeadMoved("library head kept moving; try again")
