"""History retention: which commits keep their trees, and that adding commits never revives one."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sesamedisk.domain.objects import Commit
from sesamedisk.domain.retention import history, kept_commits


def _commit(name: str, ctime: int, *parents: str) -> Commit:
    return Commit(commit_id=name, root_id=f"root-{name}", repo_id="r", creator="c",
                  description=name, ctime=ctime, parent_id=parents[0] if parents else None,
                  second_parent_id=parents[1] if len(parents) > 1 else None)


def _graph(*commits: Commit) -> dict[str, Commit]:
    return {c.commit_id: c for c in commits}


LINEAR = _graph(_commit("a", 10), _commit("b", 20, "a"), _commit("c", 30, "b"),
                _commit("d", 40, "c"))


def test_no_cutoff_keeps_everything() -> None:
    assert kept_commits(LINEAR.__getitem__, "d", None) == {"a", "b", "c", "d"}


def test_cutoff_keeps_newer_commits_and_the_state_at_the_cutoff() -> None:
    # At time 25 the library looked like commit b: restorable; a is not.
    assert kept_commits(LINEAR.__getitem__, "d", 25) == {"b", "c", "d"}
    assert kept_commits(LINEAR.__getitem__, "d", 31) == {"c", "d"}


def test_an_idle_library_keeps_its_head() -> None:
    assert kept_commits(LINEAR.__getitem__, "d", 1000) == {"d"}


def test_merges_keep_recent_second_parents_only() -> None:
    graph = _graph(_commit("a", 10), _commit("b", 20, "a"), _commit("x", 35, "a"),
                   _commit("old", 5), _commit("m", 40, "b", "x"), _commit("n", 50, "m", "old"))
    assert kept_commits(graph.__getitem__, "n", 30) == {"n", "m", "x", "b"}
    assert {c.commit_id for c in history(graph.__getitem__, "n")} == set(graph)


@given(st.lists(st.tuples(st.integers(0, 100), st.booleans()), min_size=1, max_size=12),
       st.lists(st.integers(0, 100), max_size=4), st.integers(0, 100))
def test_commits_added_on_top_never_need_a_dropped_tree(
        steps: list[tuple[int, bool]], later: list[int], cutoff: int) -> None:
    graph = _graph(_commit("c0", 0))
    head = "c0"
    for index, (ctime, merge) in enumerate(steps, start=1):
        name = f"c{index}"
        second = (f"c{index // 2}",) if merge and index > 1 else ()
        graph[name] = _commit(name, ctime, head, *second)
        head = name
    kept = kept_commits(graph.__getitem__, head, cutoff)
    for index, ctime in enumerate(later):
        name = f"new{index}"
        graph[name] = _commit(name, max(ctime, cutoff), head)
        head = name
    needed = kept_commits(graph.__getitem__, head, cutoff)
    assert needed - {f"new{i}" for i in range(len(later))} <= kept
