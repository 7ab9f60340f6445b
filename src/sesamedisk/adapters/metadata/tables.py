"""SQLAlchemy Core table definitions of the metadata database (the schema of record)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
"""Deterministic constraint names, so migrations can refer to constraints on every backend."""

TOKEN_HASH_LENGTH = 64
"""Hex SHA-256: tokens are stored only as their hash, never in plain."""

metadata = MetaData(naming_convention=NAMING_CONVENTION)

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("email", Text, nullable=False),
    # email.casefold(): the unique key behind case-insensitive lookups.
    Column("email_normalized", Text, nullable=False, unique=True),
    Column("password_hash", Text, nullable=False),
    Column("is_admin", Boolean, nullable=False),
    Column("is_active", Boolean, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    # SQLite: never reuse the id of a deleted user (ids end up in tokens and logs).
    sqlite_autoincrement=True,
)

libraries = Table(
    "libraries",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("owner_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("enc_version", Integer, nullable=True),
    Column("magic", Text, nullable=True),
    Column("random_key", Text, nullable=True),
    Column("salt", Text, nullable=True),
    Column("head", String(40), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("deleted_at", BigInteger, nullable=True),
    # Sorted, comma-separated region names the library's bytes may live in; NULL: anywhere.
    Column("regions", Text, nullable=True),
    Column("gc_epoch", BigInteger, nullable=False, server_default="0"),
    Column("gc_fence_until", BigInteger, nullable=True),
    Column("expired_before", BigInteger, nullable=False, server_default="0"),
    # Set when garbage collection starts purging a deleted library's objects.
    Column("purged_at", BigInteger, nullable=True),
    CheckConstraint(
        "(enc_version IS NULL AND magic IS NULL AND random_key IS NULL AND salt IS NULL)"
        " OR (enc_version IS NOT NULL AND magic IS NOT NULL"
        " AND random_key IS NOT NULL AND salt IS NOT NULL)",
        name="encryption_complete",
    ),
    Index(None, "owner_id"),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("token_hash", String(TOKEN_HASH_LENGTH), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("device_id", Text, nullable=False),
    Column("device_name", Text, nullable=False),
    Column("platform", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Index(None, "user_id"),
)

repo_tokens = Table(
    "repo_tokens",
    metadata,
    Column("token_hash", String(TOKEN_HASH_LENGTH), primary_key=True),
    Column(
        "library_id", String(36), ForeignKey("libraries.id", ondelete="CASCADE"), nullable=False
    ),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Index(None, "library_id"),
    Index(None, "user_id"),
)

repair_tasks = Table(
    "repair_tasks",
    metadata,
    # One pending repair of one backend's copy: ("copy" | "delete", kind, scope, id) or a
    # whole scope ("delete_scope", kind "", id ""). A newer task for a slot replaces the older.
    Column("kind", String(16), primary_key=True),
    Column("scope", String(36), primary_key=True),
    Column("object_id", String(40), primary_key=True),
    Column("backend", String(64), primary_key=True),
    Column("action", String(16), nullable=False),
    Column("queued_at", BigInteger, nullable=False),
    Index(None, "backend"),
)

transfer_tokens = Table(
    "transfer_tokens",
    metadata,
    # Access tokens of /seafhttp transfer URLs (downloads, upload and update links).
    Column("token_hash", String(TOKEN_HASH_LENGTH), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column(
        "library_id", String(36), ForeignKey("libraries.id", ondelete="CASCADE"), nullable=False
    ),
    Column("op", String(16), nullable=False),
    # The file (download, update) or the folder uploads go to (upload).
    Column("path", Text, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("reusable", Boolean, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Index(None, "expires_at"),
    Index(None, "library_id"),
)

uploads = Table(
    "uploads",
    metadata,
    # A resumable upload session (services/uploads.py); random id, visible to its user only.
    Column("id", String(32), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column(
        "library_id", String(36), ForeignKey("libraries.id", ondelete="CASCADE"), nullable=False
    ),
    Column("path", Text, nullable=False),
    Column("size", BigInteger, nullable=False),
    # Moves forward only by compare-and-swap, together with the blocks it covers.
    Column("received", BigInteger, nullable=False),
    # The last, still growing content-defined chunk, stored as a block; NULL: none.
    Column("tail_block_id", String(40), nullable=True),
    Column("mtime", BigInteger, nullable=True),
    Column("replace", Boolean, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Index(None, "user_id"),
    Index(None, "library_id"),
    Index(None, "updated_at"),
)

upload_blocks = Table(
    "upload_blocks",
    metadata,
    # The final blocks of an upload session in file order (seq 0, 1, ...).
    Column("upload_id", String(32), ForeignKey("uploads.id", ondelete="CASCADE"),
           primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("block_id", String(40), nullable=False),
    # Plaintext bytes of the block.
    Column("size", BigInteger, nullable=False),
)
