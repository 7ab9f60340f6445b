"""Storage: library residency, garbage-collection fence and retention floor, repair queue.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the library storage columns and the repair_tasks table."""
    with op.batch_alter_table("libraries") as batch:
        batch.add_column(sa.Column("regions", sa.Text(), nullable=True))
        batch.add_column(sa.Column("gc_epoch", sa.BigInteger(), nullable=False,
                                   server_default="0"))
        batch.add_column(sa.Column("gc_fence_until", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("expired_before", sa.BigInteger(), nullable=False,
                                   server_default="0"))
        batch.add_column(sa.Column("purged_at", sa.BigInteger(), nullable=True))
    op.create_table(
        "repair_tasks",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("scope", sa.String(length=36), nullable=False),
        sa.Column("object_id", sa.String(length=40), nullable=False),
        sa.Column("backend", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("queued_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "scope", "object_id", "backend",
                                name=op.f("pk_repair_tasks")),
    )
    op.create_index(op.f("ix_repair_tasks_backend"), "repair_tasks", ["backend"])


def downgrade() -> None:
    """Drop what upgrade added."""
    op.drop_index(op.f("ix_repair_tasks_backend"), table_name="repair_tasks")
    op.drop_table("repair_tasks")
    with op.batch_alter_table("libraries") as batch:
        for column in ("purged_at", "expired_before", "gc_fence_until", "gc_epoch", "regions"):
            batch.drop_column(column)
