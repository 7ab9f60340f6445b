"""Contract tests of the metadata UnitOfWork port, run on SQLite and on PostgreSQL."""

from __future__ import annotations

import hashlib
import multiprocessing
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from sesamedisk import errors
from sesamedisk.adapters.metadata.engine import create_engine_for
from sesamedisk.adapters.metadata.migrate import upgrade
from sesamedisk.adapters.metadata.sql import SqlUnitOfWork, sql_unit_of_work_factory
from sesamedisk.adapters.metadata.tables import api_tokens, repo_tokens
from sesamedisk.domain.objects import EncryptionInfo
from sesamedisk.domain.records import ApiToken, Library, RepoToken, User
from sesamedisk.ports.metadata import UnitOfWork

UowFactory = Callable[[], SqlUnitOfWork]

HEAD_0 = "0" * 40
HEAD_1 = "1" * 40
HEAD_2 = "2" * 40
PASSWORD_HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA"
ENCRYPTION = EncryptionInfo(enc_version=2, magic="ab" * 32, random_key="cd" * 48, salt="")


def add_user(uow_factory: UowFactory, email: str = "alice@example.com", *,
             is_admin: bool = False, now: int = 100) -> User:
    with uow_factory() as uow:
        user = uow.users.add(email=email, password_hash=PASSWORD_HASH, is_admin=is_admin,
                             now=now)
        uow.commit()
    return user


def make_library(owner_id: int, *, name: str = "Documents", head: str = HEAD_0,
                 encryption: EncryptionInfo | None = None, created_at: int = 100,
                 library_id: str | None = None) -> Library:
    return Library(
        id=library_id or str(uuid.uuid4()),
        name=name,
        description=f"about {name}",
        owner_id=owner_id,
        encryption=encryption,
        head=head,
        created_at=created_at,
        updated_at=created_at,
    )


def add_library(uow_factory: UowFactory, library: Library) -> Library:
    with uow_factory() as uow:
        uow.libraries.add(library)
        uow.commit()
    return library


def head_of(uow_factory: UowFactory, library_id: str) -> str:
    with uow_factory() as uow:
        library = uow.libraries.get(library_id, include_deleted=True)
    assert library is not None
    return library.head


# --- the unit of work -------------------------------------------------------------------


def test_sql_unit_of_work_satisfies_the_port(uow_factory: UowFactory) -> None:
    uow: UnitOfWork = uow_factory()
    with uow:
        assert uow.users.count() == 0


def test_leaving_without_commit_rolls_back(uow_factory: UowFactory) -> None:
    with uow_factory() as uow:
        uow.users.add(email="a@example.com", password_hash=PASSWORD_HASH, is_admin=False, now=1)
    with uow_factory() as uow:
        assert uow.users.count() == 0
        assert uow.users.get_by_email("a@example.com") is None


def test_an_exception_rolls_back_and_propagates(uow_factory: UowFactory) -> None:
    class BoomError(Exception):
        pass

    def add_then_fail() -> None:
        with uow_factory() as uow:
            uow.users.add(email="a@example.com", password_hash=PASSWORD_HASH, is_admin=False,
                          now=1)
            raise BoomError

    with pytest.raises(BoomError):
        add_then_fail()
    with uow_factory() as uow:
        assert uow.users.count() == 0


def test_work_after_commit_is_rolled_back_separately(uow_factory: UowFactory) -> None:
    with uow_factory() as uow:
        uow.users.add(email="a@example.com", password_hash=PASSWORD_HASH, is_admin=False, now=1)
        uow.commit()
        uow.users.add(email="b@example.com", password_hash=PASSWORD_HASH, is_admin=False, now=2)
    with uow_factory() as uow:
        assert [u.email for u in uow.users.list()] == ["a@example.com"]


def test_repositories_need_the_with_block(uow_factory: UowFactory) -> None:
    uow = uow_factory()
    with pytest.raises(RuntimeError):
        uow.users.count()
    with uow:
        assert uow.users.count() == 0
    with pytest.raises(RuntimeError):
        uow.users.count()
    with uow:  # a unit of work may be entered again after it was left
        assert uow.users.count() == 0


def test_unit_of_work_is_not_reentrant(uow_factory: UowFactory) -> None:
    uow = uow_factory()
    with uow, pytest.raises(RuntimeError):
        uow.__enter__()


def test_factory_helper_builds_units_of_work(database_url: str) -> None:
    engine = create_engine_for(database_url)
    try:
        upgrade(engine)
        factory = sql_unit_of_work_factory(engine)
        with factory() as uow:
            assert uow.libraries.heads([]) == {}
    finally:
        engine.dispose()


def test_unreachable_database_is_unavailable() -> None:
    engine = create_engine_for("postgresql://nobody@127.0.0.1:1/nothing?connect_timeout=2")
    try:
        with pytest.raises(errors.Unavailable), SqlUnitOfWork(engine):
            pass
    finally:
        engine.dispose()


# --- users ------------------------------------------------------------------------------


def test_add_and_get_user(uow_factory: UowFactory) -> None:
    user = add_user(uow_factory, "alice@example.com", is_admin=True, now=1234)
    assert user == User(id=user.id, email="alice@example.com", password_hash=PASSWORD_HASH,
                        is_admin=True, is_active=True, created_at=1234)
    with uow_factory() as uow:
        assert uow.users.get(user.id) == user
        assert uow.users.get(user.id + 1000) is None
        assert uow.users.get_by_email("alice@example.com") == user
        assert uow.users.get_by_email("bob@example.com") is None


def test_email_lookup_is_case_insensitive_and_keeps_the_spelling(
        uow_factory: UowFactory) -> None:
    user = add_user(uow_factory, "Alice.Smith@Example.COM")
    with uow_factory() as uow:
        for spelling in ("alice.smith@example.com", "ALICE.SMITH@EXAMPLE.COM",
                         "Alice.Smith@Example.COM"):
            assert uow.users.get_by_email(spelling) == user
    assert user.email == "Alice.Smith@Example.COM"


def test_duplicate_email_already_exists_and_the_transaction_goes_on(
        uow_factory: UowFactory) -> None:
    add_user(uow_factory, "alice@example.com")
    with uow_factory() as uow:
        with pytest.raises(errors.AlreadyExists):
            uow.users.add(email="ALICE@example.com", password_hash="x", is_admin=False, now=2)
        bob = uow.users.add(email="bob@example.com", password_hash="x", is_admin=False, now=3)
        uow.commit()
    with uow_factory() as uow:
        assert uow.users.count() == 2
        assert uow.users.get_by_email("bob@example.com") == bob


def test_users_are_listed_oldest_first_and_counted(uow_factory: UowFactory) -> None:
    carol = add_user(uow_factory, "carol@example.com", now=300)
    alice = add_user(uow_factory, "alice@example.com", now=100)
    bob = add_user(uow_factory, "bob@example.com", now=200)
    with uow_factory() as uow:
        assert list(uow.users.list()) == [alice, bob, carol]
        assert uow.users.count() == 3
    assert len({alice.id, bob.id, carol.id}) == 3


def test_set_password_hash(uow_factory: UowFactory) -> None:
    user = add_user(uow_factory)
    with uow_factory() as uow:
        uow.users.set_password_hash(user.id, "$argon2id$new")
        uow.commit()
    with uow_factory() as uow:
        updated = uow.users.get(user.id)
        assert updated is not None
        assert updated.password_hash == "$argon2id$new"
        with pytest.raises(errors.UserNotFound):
            uow.users.set_password_hash(user.id + 1000, "x")


# --- tokens -----------------------------------------------------------------------------


def api_token(user_id: int, token: str = "t" * 40) -> ApiToken:
    return ApiToken(token=token, user_id=user_id, device_id="dev-1", device_name="laptop",
                    platform="linux", created_at=500)


def test_api_token_add_get_delete(uow_factory: UowFactory) -> None:
    user = add_user(uow_factory)
    token = api_token(user.id, "0123456789abcdef0123456789abcdef01234567")
    with uow_factory() as uow:
        uow.api_tokens.add(token)
        uow.commit()
    with uow_factory() as uow:
        assert uow.api_tokens.get(token.token) == token
        assert uow.api_tokens.get("f" * 40) is None
        uow.api_tokens.delete(token.token)
        uow.api_tokens.delete("f" * 40)  # revoking an unknown token is a no-op
        uow.commit()
    with uow_factory() as uow:
        assert uow.api_tokens.get(token.token) is None


def test_tokens_are_stored_only_as_hashes(uow_factory: UowFactory, database_url: str) -> None:
    user = add_user(uow_factory)
    library = add_library(uow_factory, make_library(user.id))
    api = api_token(user.id, "plain-api-token-value-0123456789")
    sync = RepoToken(token="plain-sync-token-value-987654321", library_id=library.id,
                     user_id=user.id, created_at=1)
    with uow_factory() as uow:
        uow.api_tokens.add(api)
        uow.repo_tokens.add(sync)
        uow.commit()
    engine = create_engine_for(database_url)
    try:
        with engine.connect() as connection:
            api_rows = [tuple(row) for row in connection.execute(select(api_tokens))]
            repo_rows = [tuple(row) for row in connection.execute(select(repo_tokens))]
    finally:
        engine.dispose()
    for rows, plain in ((api_rows, api.token), (repo_rows, sync.token)):
        assert len(rows) == 1
        assert hashlib.sha256(plain.encode()).hexdigest() in rows[0]
        assert not any(plain in str(value) for value in rows[0])


def test_duplicate_api_token_already_exists(uow_factory: UowFactory) -> None:
    user = add_user(uow_factory)
    with uow_factory() as uow:
        uow.api_tokens.add(api_token(user.id))
        uow.commit()
    with uow_factory() as uow, pytest.raises(errors.AlreadyExists):
        uow.api_tokens.add(api_token(user.id))


def test_token_of_a_missing_user_is_not_found(uow_factory: UowFactory) -> None:
    with uow_factory() as uow, pytest.raises(errors.UserNotFound):
        uow.api_tokens.add(api_token(4242))


def test_tokens_survive_a_restart(uow_factory: UowFactory, database_url: str) -> None:
    user = add_user(uow_factory)
    library = add_library(uow_factory, make_library(user.id))
    api = api_token(user.id)
    sync = RepoToken(token="s" * 40, library_id=library.id, user_id=user.id, created_at=7)
    with uow_factory() as uow:
        uow.api_tokens.add(api)
        uow.repo_tokens.add(sync)
        uow.commit()
    restarted = create_engine_for(database_url)
    try:
        with SqlUnitOfWork(restarted) as uow:
            assert uow.api_tokens.get(api.token) == api
            assert uow.repo_tokens.get(sync.token) == sync
    finally:
        restarted.dispose()


def test_repo_tokens_add_get_and_revoke_per_library(uow_factory: UowFactory) -> None:
    user = add_user(uow_factory)
    docs = add_library(uow_factory, make_library(user.id, name="Docs"))
    photos = add_library(uow_factory, make_library(user.id, name="Photos"))
    tokens = [
        RepoToken(token=f"docs-{i}", library_id=docs.id, user_id=user.id, created_at=i)
        for i in range(3)
    ]
    keep = RepoToken(token="photos-0", library_id=photos.id, user_id=user.id, created_at=9)
    with uow_factory() as uow:
        for token in [*tokens, keep]:
            uow.repo_tokens.add(token)
        uow.commit()
    with uow_factory() as uow:
        assert [uow.repo_tokens.get(t.token) for t in tokens] == tokens
        assert uow.repo_tokens.get("nope") is None
        with pytest.raises(errors.AlreadyExists):
            uow.repo_tokens.add(tokens[0])
        uow.repo_tokens.delete_for_library(docs.id)
        uow.commit()
    with uow_factory() as uow:
        assert all(uow.repo_tokens.get(t.token) is None for t in tokens)
        assert uow.repo_tokens.get(keep.token) == keep


def test_repo_token_of_a_missing_library_is_not_found(uow_factory: UowFactory) -> None:
    user = add_user(uow_factory)
    token = RepoToken(token="x" * 40, library_id=str(uuid.uuid4()), user_id=user.id,
                      created_at=1)
    with uow_factory() as uow, pytest.raises(errors.NotFound):
        uow.repo_tokens.add(token)


# --- libraries --------------------------------------------------------------------------


def test_add_and_get_library(uow_factory: UowFactory) -> None:
    user = add_user(uow_factory)
    plain = add_library(uow_factory, make_library(user.id, name="Plain"))
    secret = add_library(uow_factory, make_library(user.id, name="Secret", encryption=ENCRYPTION))
    with uow_factory() as uow:
        assert uow.libraries.get(plain.id) == plain
        assert uow.libraries.get(secret.id) == secret
        assert uow.libraries.get(str(uuid.uuid4())) is None
    assert secret.encrypted
    assert not plain.encrypted


def test_duplicate_library_id_already_exists(uow_factory: UowFactory) -> None:
    user = add_user(uow_factory)
    library = add_library(uow_factory, make_library(user.id))
    with uow_factory() as uow, pytest.raises(errors.AlreadyExists):
        uow.libraries.add(make_library(user.id, name="Other", library_id=library.id))


def test_library_of_a_missing_owner_is_not_found(uow_factory: UowFactory) -> None:
    with uow_factory() as uow, pytest.raises(errors.UserNotFound):
        uow.libraries.add(make_library(4242))


def test_list_owned_is_by_name_and_only_live_own_libraries(uow_factory: UowFactory) -> None:
    alice = add_user(uow_factory, "alice@example.com")
    bob = add_user(uow_factory, "bob@example.com")
    names = ["photos", "Zeta", "archive", "Music", "beta"]
    mine = [add_library(uow_factory, make_library(alice.id, name=n)) for n in names]
    add_library(uow_factory, make_library(bob.id, name="bobs"))
    gone = add_library(uow_factory, make_library(alice.id, name="aaa-deleted"))
    with uow_factory() as uow:
        uow.libraries.mark_deleted(gone.id, now=900)
        uow.commit()
    with uow_factory() as uow:
        owned = uow.libraries.list_owned(alice.id)
        assert [lib.name for lib in owned] == ["archive", "beta", "Music", "photos", "Zeta"]
        assert sorted(owned, key=lambda lib: lib.id) == sorted(mine, key=lambda lib: lib.id)
        assert uow.libraries.list_owned(4242) == []


def test_list_all(uow_factory: UowFactory) -> None:
    user = add_user(uow_factory)
    first = add_library(uow_factory, make_library(user.id, name="b", created_at=100))
    second = add_library(uow_factory, make_library(user.id, name="a", created_at=200))
    with uow_factory() as uow:
        uow.libraries.mark_deleted(first.id, now=300)
        uow.commit()
    with uow_factory() as uow:
        assert [lib.id for lib in uow.libraries.list_all()] == [second.id]
        everything = uow.libraries.list_all(include_deleted=True)
    assert [lib.id for lib in everything] == [first.id, second.id]
    assert everything[0].deleted_at == 300


def test_heads_in_one_call(uow_factory: UowFactory) -> None:
    user = add_user(uow_factory)
    one = add_library(uow_factory, make_library(user.id, name="one", head=HEAD_1))
    two = add_library(uow_factory, make_library(user.id, name="two", head=HEAD_2))
    gone = add_library(uow_factory, make_library(user.id, name="gone"))
    with uow_factory() as uow:
        uow.libraries.mark_deleted(gone.id, now=5)
        uow.commit()
    missing = str(uuid.uuid4())
    with uow_factory() as uow:
        assert uow.libraries.heads([one.id, two.id, gone.id, missing, one.id]) == {
            one.id: HEAD_1,
            two.id: HEAD_2,
        }
        assert uow.libraries.heads([]) == {}
        assert uow.libraries.heads([missing]) == {}


def test_update_info(uow_factory: UowFactory) -> None:
    user = add_user(uow_factory)
    library = add_library(uow_factory, make_library(user.id, name="old"))
    with uow_factory() as uow:
        uow.libraries.update_info(library.id, name="new", description="fresh", now=777)
        uow.commit()
    with uow_factory() as uow:
        updated = uow.libraries.get(library.id)
        with pytest.raises(errors.LibraryNotFound):
            uow.libraries.update_info(str(uuid.uuid4()), name="x", description="", now=1)
    assert updated is not None
    assert (updated.name, updated.description, updated.updated_at) == ("new", "fresh", 777)
    assert updated.head == library.head
    assert updated.created_at == library.created_at


def test_mark_deleted_hides_the_library(uow_factory: UowFactory) -> None:
    user = add_user(uow_factory)
    library = add_library(uow_factory, make_library(user.id))
    with uow_factory() as uow:
        uow.libraries.mark_deleted(library.id, now=999)
        uow.commit()
    with uow_factory() as uow:
        assert uow.libraries.get(library.id) is None
        deleted = uow.libraries.get(library.id, include_deleted=True)
        assert deleted is not None
        assert deleted.deleted_at == 999
        assert uow.libraries.heads([library.id]) == {}
        assert not uow.libraries.advance_head(library.id, expected=HEAD_0, new=HEAD_1, now=1000,
                                              gc_epoch=0)
        with pytest.raises(errors.LibraryDeleted):
            uow.libraries.update_info(library.id, name="x", description="", now=1000)
        uow.libraries.mark_deleted(library.id, now=2000)  # again: keeps the first time
        with pytest.raises(errors.LibraryNotFound):
            uow.libraries.mark_deleted(str(uuid.uuid4()), now=1)
        uow.commit()
    with uow_factory() as uow:
        again = uow.libraries.get(library.id, include_deleted=True)
    assert again is not None
    assert again.deleted_at == 999
    assert again.head == HEAD_0


# --- compare-and-swap of the head -------------------------------------------------------


def test_advance_head_with_the_right_expected_head(uow_factory: UowFactory) -> None:
    user = add_user(uow_factory)
    library = add_library(uow_factory, make_library(user.id, head=HEAD_0))
    with uow_factory() as uow:
        assert uow.libraries.advance_head(library.id, expected=HEAD_0, new=HEAD_1, now=555,
                                          gc_epoch=0)
        uow.commit()
    with uow_factory() as uow:
        advanced = uow.libraries.get(library.id)
    assert advanced is not None
    assert (advanced.head, advanced.updated_at) == (HEAD_1, 555)


def test_advance_head_with_a_stale_expected_head(uow_factory: UowFactory) -> None:
    user = add_user(uow_factory)
    library = add_library(uow_factory, make_library(user.id, head=HEAD_1))
    with uow_factory() as uow:
        assert not uow.libraries.advance_head(library.id, expected=HEAD_0, new=HEAD_2, now=555,
                                              gc_epoch=0)
        assert not uow.libraries.advance_head(str(uuid.uuid4()), expected=HEAD_1, new=HEAD_2,
                                              now=555, gc_epoch=0)
        uow.commit()
    with uow_factory() as uow:
        unchanged = uow.libraries.get(library.id)
    assert unchanged == library


def test_rolled_back_advance_leaves_the_head(uow_factory: UowFactory) -> None:
    user = add_user(uow_factory)
    library = add_library(uow_factory, make_library(user.id, head=HEAD_0))
    with uow_factory() as uow:
        assert uow.libraries.advance_head(library.id, expected=HEAD_0, new=HEAD_1, now=2,
                                          gc_epoch=0)
    assert head_of(uow_factory, library.id) == HEAD_0


def test_read_then_swap_does_not_deadlock(uow_factory: UowFactory, database_url: str) -> None:
    """Two transactions that both read the head and then swap it: no "database is locked"."""
    user = add_user(uow_factory)
    library = add_library(uow_factory, make_library(user.id, head=HEAD_0))
    first_has_read = threading.Event()
    outcome: dict[str, Any] = {}

    def first() -> None:
        with uow_factory() as uow:
            seen = uow.libraries.get(library.id)
            first_has_read.set()
            time.sleep(0.3)
            assert seen is not None
            outcome["first"] = uow.libraries.advance_head(
                library.id, expected=seen.head, new=HEAD_1, now=2, gc_epoch=0)
            uow.commit()

    def second() -> None:
        first_has_read.wait(10)
        with uow_factory() as uow:
            seen = uow.libraries.get(library.id)
            assert seen is not None
            # SQLite: this transaction waited (BEGIN IMMEDIATE) until the first committed,
            # so it reads the new head and its swap fails. PostgreSQL: it reads the old head
            # and swaps first, and the first's swap then finds the head moved.
            outcome["second"] = uow.libraries.advance_head(
                library.id, expected=HEAD_0, new=HEAD_2, now=3, gc_epoch=0)
            uow.commit()

    run_threads([first, second])
    assert sorted(outcome.values()) == [False, True]
    assert head_of(uow_factory, library.id) == (HEAD_1 if outcome["first"] else HEAD_2)
    if database_url.startswith("sqlite"):
        assert outcome["first"]


def run_threads(targets: list[Callable[[], None]]) -> None:
    failures: list[BaseException] = []

    def guarded(target: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                target()
            except BaseException as error:
                failures.append(error)
        return run

    threads = [threading.Thread(target=guarded(t)) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not any(thread.is_alive() for thread in threads)
    if failures:
        raise failures[0]


@pytest.mark.parametrize("read_first", [False, True], ids=["swap", "read-then-swap"])
def test_racing_threads_exactly_one_wins(uow_factory: UowFactory, read_first: bool) -> None:
    user = add_user(uow_factory)
    library = add_library(uow_factory, make_library(user.id, head=HEAD_0))
    racers = 8
    start = threading.Barrier(racers)
    results: dict[str, bool] = {}

    def racer(index: int) -> Callable[[], None]:
        new = f"{index + 1:040x}"

        def run() -> None:
            start.wait(30)
            with uow_factory() as uow:
                if read_first:
                    uow.libraries.get(library.id)
                results[new] = uow.libraries.advance_head(
                    library.id, expected=HEAD_0, new=new, now=index, gc_epoch=0)
                uow.commit()
        return run

    run_threads([racer(i) for i in range(racers)])
    winners = [new for new, won in results.items() if won]
    assert len(results) == racers
    assert len(winners) == 1
    assert head_of(uow_factory, library.id) == winners[0]


def _race_in_process(url: str, library_id: str, new: str, start: Any, results: Any) -> None:
    """One racing process: its own engine, one compare-and-swap from HEAD_0."""
    engine = create_engine_for(url)
    try:
        start.wait(60)
        with SqlUnitOfWork(engine) as uow:
            uow.libraries.get(library_id)
            won = uow.libraries.advance_head(library_id, expected=HEAD_0, new=new, now=1,
                                             gc_epoch=0)
            uow.commit()
        results.put((new, won, None))
    except Exception as error:
        results.put((new, False, repr(error)))
    finally:
        engine.dispose()


@pytest.mark.slow
def test_racing_processes_exactly_one_wins(uow_factory: UowFactory, database_url: str) -> None:
    user = add_user(uow_factory)
    library = add_library(uow_factory, make_library(user.id, head=HEAD_0))
    context = multiprocessing.get_context("spawn")
    racers = 3
    start = context.Barrier(racers)
    results = context.Queue()
    processes = [
        context.Process(target=_race_in_process,
                        args=(database_url, library.id, f"{i + 1:040x}", start, results))
        for i in range(racers)
    ]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(60)
        assert process.exitcode == 0
    assert [error for _, _, error in outcomes if error] == []
    winners = [new for new, won, _ in outcomes if won]
    assert len(winners) == 1
    assert head_of(uow_factory, library.id) == winners[0]


# --- property: the head behaves like a compare-and-swap register ------------------------


_heads = st.integers(min_value=0, max_value=3).map(lambda n: f"{n:040x}")


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.tuples(st.booleans(), _heads, _heads, st.booleans()), max_size=8))
def test_head_is_a_compare_and_swap_register(
        uow_factory: UowFactory, steps: list[tuple[bool, str, str, bool]]) -> None:
    # Each example gets its own owner and library: the database outlives the examples.
    owner = add_user(uow_factory, f"{uuid.uuid4().hex}@example.com")
    library = add_library(uow_factory, make_library(owner.id, head=f"{0:040x}"))
    model = library.head
    for now, (use_current, other, new, commit) in enumerate(steps):
        expected = model if use_current else other
        with uow_factory() as uow:
            swapped = uow.libraries.advance_head(library.id, expected=expected, new=new,
                                                 now=now, gc_epoch=0)
            if commit:
                uow.commit()
        assert swapped == (expected == model)
        if swapped and commit:
            model = new
        assert head_of(uow_factory, library.id) == model
