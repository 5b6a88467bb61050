"""concepts: offered count and status, so a concept that does not help is demoted, then removed

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("concepts") as batch:
        batch.add_column(sa.Column("offered", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("status", sa.String(16), nullable=False, server_default="active"))
        batch.create_index("ix_concepts_status", ["status"])


def downgrade() -> None:
    with op.batch_alter_table("concepts") as batch:
        batch.drop_index("ix_concepts_status")
        batch.drop_column("status")
        batch.drop_column("offered")
