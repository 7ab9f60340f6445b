"""Transfer tokens: access tokens of /seafhttp download, upload and update URLs.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the transfer_tokens table."""
    op.create_table(
        "transfer_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("library_id", sa.String(length=36), nullable=False),
        sa.Column("op", sa.String(length=16), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.Column("reusable", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_transfer_tokens_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["library_id"], ["libraries.id"],
            name=op.f("fk_transfer_tokens_library_id_libraries"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_transfer_tokens")),
    )
    op.create_index(op.f("ix_transfer_tokens_expires_at"), "transfer_tokens", ["expires_at"])
    op.create_index(op.f("ix_transfer_tokens_library_id"), "transfer_tokens", ["library_id"])


def downgrade() -> None:
    """Drop the transfer_tokens table."""
    op.drop_index(op.f("ix_transfer_tokens_library_id"), table_name="transfer_tokens")
    op.drop_index(op.f("ix_transfer_tokens_expires_at"), table_name="transfer_tokens")
    op.drop_table("transfer_tokens")
