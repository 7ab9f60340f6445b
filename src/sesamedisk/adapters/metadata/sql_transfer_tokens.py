"""SQL repository of transfer tokens: the access tokens of /seafhttp transfer URLs."""

from __future__ import annotations

from sqlalchemy import delete, insert, select

from sesamedisk import errors
from sesamedisk.adapters.metadata.sql_support import Executor, token_hash
from sesamedisk.adapters.metadata.tables import transfer_tokens
from sesamedisk.ports.metadata import TransferToken

_t = transfer_tokens.c


class SqlTransferTokenRepository:
    """Transfer tokens in the `transfer_tokens` table, stored as SHA-256 hashes."""

    def __init__(self, executor: Executor) -> None:
        self._db = executor

    def add(self, token: TransferToken) -> None:
        """Store a new token; NotFound if its library or user is missing."""
        statement = insert(transfer_tokens).values(
            token_hash=token_hash(token.token), user_id=token.user_id,
            library_id=token.library_id, op=token.op, path=token.path,
            expires_at=token.expires_at, reusable=token.reusable, created_at=token.created_at,
        )
        self._db.insert(
            statement,
            exists=errors.AlreadyExists("that transfer token already exists"),
            missing=errors.NotFound(
                f"no library {token.library_id!r} or no user with id {token.user_id}"),
        )

    def use(self, token: str, *, op: str, now: int) -> TransferToken | None:
        """The live token's record for `op`, deleting a one-time token; else None."""
        hashed = token_hash(token)
        row = self._db.execute(
            select(_t.user_id, _t.library_id, _t.op, _t.path, _t.expires_at, _t.reusable,
                   _t.created_at).where(_t.token_hash == hashed, _t.op == op)).first()
        if row is None or row.expires_at <= now:
            return None
        # For a one-time token the DELETE decides between concurrent users: one removes it.
        if not row.reusable and self._db.execute(
                delete(transfer_tokens).where(_t.token_hash == hashed)).rowcount != 1:
            return None
        return TransferToken(
            token=token, user_id=row.user_id, library_id=row.library_id, op=row.op,
            path=row.path, expires_at=row.expires_at, reusable=bool(row.reusable),
            created_at=row.created_at)

    def delete_expired(self, *, now: int) -> int:
        """Forget tokens that expired before `now`; how many there were."""
        result = self._db.execute(delete(transfer_tokens).where(_t.expires_at <= now))
        return int(result.rowcount)
