"""Uploads: resumable upload sessions and the blocks they have stored so far.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the uploads and upload_blocks tables."""
    op.create_table(
        "uploads",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("library_id", sa.String(length=36), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("received", sa.BigInteger(), nullable=False),
        sa.Column("tail_block_id", sa.String(length=40), nullable=True),
        sa.Column("mtime", sa.BigInteger(), nullable=True),
        sa.Column("replace", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE",
                                name=op.f("fk_uploads_user_id_users")),
        sa.ForeignKeyConstraint(["library_id"], ["libraries.id"], ondelete="CASCADE",
                                name=op.f("fk_uploads_library_id_libraries")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_uploads")),
    )
    op.create_index(op.f("ix_uploads_user_id"), "uploads", ["user_id"])
    op.create_index(op.f("ix_uploads_library_id"), "uploads", ["library_id"])
    op.create_index(op.f("ix_uploads_updated_at"), "uploads", ["updated_at"])
    op.create_table(
        "upload_blocks",
        sa.Column("upload_id", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("block_id", sa.String(length=40), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["upload_id"], ["uploads.id"], ondelete="CASCADE",
                                name=op.f("fk_upload_blocks_upload_id_uploads")),
        sa.PrimaryKeyConstraint("upload_id", "seq", name=op.f("pk_upload_blocks")),
    )


def downgrade() -> None:
    """Drop what upgrade added."""
    op.drop_table("upload_blocks")
    for column in ("updated_at", "library_id", "user_id"):
        op.drop_index(op.f(f"ix_uploads_{column}"), table_name="uploads")
    op.drop_table("uploads")
