"""procedures: how many check problems each one answered (right or wrong), so that one which declines what it
cannot parse is judged on the answers it gives

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("procedures") as batch:
        batch.add_column(sa.Column("answered", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("procedures") as batch:
        batch.drop_column("answered")
