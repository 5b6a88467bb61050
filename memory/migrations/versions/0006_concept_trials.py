"""concepts: the A/B trial that admitted each one (held problems solved with it shown, without it, and how many)

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("concepts") as batch:
        batch.add_column(sa.Column("trial_with", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("trial_without", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("trial_n", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("concepts") as batch:
        batch.drop_column("trial_n")
        batch.drop_column("trial_without")
        batch.drop_column("trial_with")
