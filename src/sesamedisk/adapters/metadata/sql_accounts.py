"""SQL repositories of accounts: users, api2 tokens and sync (repo) tokens."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, func, insert, select, update

from sesamedisk import errors
from sesamedisk.adapters.metadata.sql_support import AnyRow, Executor, token_hash
from sesamedisk.adapters.metadata.tables import api_tokens, repo_tokens, users
from sesamedisk.domain.records import ApiToken, RepoToken, User


def normalize_email(email: str) -> str:
    """The key emails are unique and looked up by: the case-folded address."""
    return email.casefold()


def _user(row: AnyRow) -> User:
    return User(
        id=row.id,
        email=row.email,
        password_hash=row.password_hash,
        is_admin=bool(row.is_admin),
        is_active=bool(row.is_active),
        created_at=row.created_at,
    )


_USER_COLUMNS = (
    users.c.id,
    users.c.email,
    users.c.password_hash,
    users.c.is_admin,
    users.c.is_active,
    users.c.created_at,
)


class SqlUserRepository:
    """Users in the `users` table; emails are unique case-insensitively."""

    def __init__(self, executor: Executor) -> None:
        self._db = executor

    def add(self, *, email: str, password_hash: str, is_admin: bool, now: int) -> User:
        """Create an active user; AlreadyExists if the (case-folded) email is taken."""
        statement = (
            insert(users)
            .values(
                email=email,
                email_normalized=normalize_email(email),
                password_hash=password_hash,
                is_admin=is_admin,
                is_active=True,
                created_at=now,
            )
            .returning(users.c.id)
        )
        rows = self._db.insert(
            statement,
            exists=errors.AlreadyExists(f"a user with email {email!r} already exists"),
            missing=errors.InvalidRequest("user references a missing row"),
        )
        user_id: int = rows[0].id
        return User(
            id=user_id, email=email, password_hash=password_hash, is_admin=is_admin,
            is_active=True, created_at=now,
        )

    def get(self, user_id: int) -> User | None:
        """The user with this id."""
        row = self._db.execute(select(*_USER_COLUMNS).where(users.c.id == user_id)).first()
        return None if row is None else _user(row)

    def get_by_email(self, email: str) -> User | None:
        """The user with this email, compared case-insensitively."""
        statement = select(*_USER_COLUMNS).where(
            users.c.email_normalized == normalize_email(email)
        )
        row = self._db.execute(statement).first()
        return None if row is None else _user(row)

    def list(self) -> Sequence[User]:
        """All users, oldest first."""
        statement = select(*_USER_COLUMNS).order_by(users.c.created_at, users.c.id)
        return [_user(row) for row in self._db.execute(statement)]

    def count(self) -> int:
        """How many users exist."""
        count: int = self._db.execute(select(func.count()).select_from(users)).scalar_one()
        return count

    def set_password_hash(self, user_id: int, password_hash: str) -> None:
        """Replace a user's password hash; UserNotFound if there is no such user."""
        statement = (
            update(users).where(users.c.id == user_id).values(password_hash=password_hash)
        )
        if self._db.execute(statement).rowcount != 1:
            raise errors.UserNotFound(f"no user with id {user_id}")


class SqlApiTokenRepository:
    """api2 tokens, stored as SHA-256 hashes; records carry the plain token given."""

    def __init__(self, executor: Executor) -> None:
        self._db = executor

    def add(self, token: ApiToken) -> None:
        """Store a new token; AlreadyExists if taken, UserNotFound if the user is missing."""
        statement = insert(api_tokens).values(
            token_hash=token_hash(token.token),
            user_id=token.user_id,
            device_id=token.device_id,
            device_name=token.device_name,
            platform=token.platform,
            created_at=token.created_at,
        )
        self._db.insert(
            statement,
            exists=errors.AlreadyExists("that api token already exists"),
            missing=errors.UserNotFound(f"no user with id {token.user_id}"),
        )

    def get(self, token: str) -> ApiToken | None:
        """The token record, if the token exists."""
        statement = select(
            api_tokens.c.user_id,
            api_tokens.c.device_id,
            api_tokens.c.device_name,
            api_tokens.c.platform,
            api_tokens.c.created_at,
        ).where(api_tokens.c.token_hash == token_hash(token))
        row = self._db.execute(statement).first()
        if row is None:
            return None
        return ApiToken(
            token=token,
            user_id=row.user_id,
            device_id=row.device_id,
            device_name=row.device_name,
            platform=row.platform,
            created_at=row.created_at,
        )

    def delete(self, token: str) -> None:
        """Revoke a token (no-op if it does not exist)."""
        self._db.execute(delete(api_tokens).where(api_tokens.c.token_hash == token_hash(token)))


class SqlRepoTokenRepository:
    """Sync tokens bound to (library, user), stored as SHA-256 hashes."""

    def __init__(self, executor: Executor) -> None:
        self._db = executor

    def add(self, token: RepoToken) -> None:
        """Store a new token; AlreadyExists if taken, NotFound if library or user is missing."""
        statement = insert(repo_tokens).values(
            token_hash=token_hash(token.token),
            library_id=token.library_id,
            user_id=token.user_id,
            created_at=token.created_at,
        )
        self._db.insert(
            statement,
            exists=errors.AlreadyExists("that repo token already exists"),
            missing=errors.NotFound(
                f"no library {token.library_id!r} or no user with id {token.user_id}"
            ),
        )

    def get(self, token: str) -> RepoToken | None:
        """The token record, if the token exists."""
        statement = select(
            repo_tokens.c.library_id, repo_tokens.c.user_id, repo_tokens.c.created_at
        ).where(repo_tokens.c.token_hash == token_hash(token))
        row = self._db.execute(statement).first()
        if row is None:
            return None
        return RepoToken(
            token=token, library_id=row.library_id, user_id=row.user_id,
            created_at=row.created_at,
        )

    def delete_for_library(self, library_id: str) -> None:
        """Revoke every token of a library."""
        self._db.execute(delete(repo_tokens).where(repo_tokens.c.library_id == library_id))
