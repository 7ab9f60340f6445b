"""History retention: which commits of a library keep their trees (and so stay restorable)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from sesamedisk.domain.objects import Commit

CommitLoader = Callable[[str], Commit]
DAY = 86_400


@dataclass(frozen=True)
class GcPolicy:
    """What garbage collection keeps: history, trash and a grace period for new objects."""

    history_seconds: int | None = None
    """Keep every version younger than this; None keeps all history."""
    trash_seconds: int = 30 * DAY
    """Deleted libraries stay (restorable) this long."""
    grace_seconds: int = DAY
    """Objects stored more recently than this are never collected (uploads in flight)."""
    upload_expiry_seconds: int = 7 * DAY
    """Resumable upload sessions idle this long are forgotten (their blocks become garbage)."""


def history(load_commit: CommitLoader, head_id: str) -> Iterator[Commit]:
    """Every commit reachable from the head (both parents), each once, newest-first-ish."""
    seen: set[str] = set()
    pending = [head_id]
    while pending:
        commit_id = pending.pop()
        if commit_id in seen:
            continue
        seen.add(commit_id)
        commit = load_commit(commit_id)
        yield commit
        pending.extend(reversed(commit.parents))


def kept_commits(load_commit: CommitLoader, head_id: str, cutoff: int | None) -> set[str]:
    """Ids of the commits whose trees history retention keeps.

    None keeps every commit. Otherwise: the head; every commit with ctime >= cutoff reached
    from the head through such commits; and the state as it was at the cutoff: the first
    commit older than the cutoff on the head's first-parent chain. Commits added on
    top later never make an older, already dropped commit kept again, so the set a later
    check computes with the same cutoff is covered by what was kept.
    """
    if cutoff is None:
        return {commit.commit_id for commit in history(load_commit, head_id)}
    kept = {head_id}
    pending = list(load_commit(head_id).parents)
    while pending:
        commit_id = pending.pop()
        if commit_id in kept:
            continue
        commit = load_commit(commit_id)
        if commit.ctime >= cutoff:
            kept.add(commit_id)
            pending.extend(commit.parents)
    snapshot = _state_at_cutoff(load_commit, head_id, cutoff)
    if snapshot is not None:
        kept.add(snapshot)
    return kept


def _state_at_cutoff(load_commit: CommitLoader, head_id: str, cutoff: int) -> str | None:
    """The library as it was at the cutoff: the first older commit on the first-parent chain."""
    commit = load_commit(head_id)
    while commit.ctime >= cutoff:
        if commit.parent_id is None:
            return None
        commit = load_commit(commit.parent_id)
    return commit.commit_id
