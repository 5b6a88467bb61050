"""one subroutine per (question_key, domain); record imported files by content hash

Stores written by 0001 could hold twins that concurrent writers created, and rows
inserted by plain SQL with an empty question_key. Both are repaired before the unique
index is created: keys are recomputed, and each group of twins collapses into its
oldest row with the usage counts summed (the FAISS index drops the removed ids on open).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from memory.models import text_key

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_subs = sa.table(
    "subroutines",
    sa.column("id", sa.Integer),
    sa.column("question", sa.Text),
    sa.column("question_key", sa.String),
    sa.column("domain", sa.String),
    sa.column("source", sa.String),
    sa.column("uses", sa.Integer),
    sa.column("successes", sa.Integer),
)


def _fix_keys(conn: sa.Connection) -> None:
    for row_id, question, key in conn.execute(sa.select(_subs.c.id, _subs.c.question, _subs.c.question_key)).all():
        if key != text_key(question):
            conn.execute(_subs.update().where(_subs.c.id == row_id).values(question_key=text_key(question)))


def _merge_twins(conn: sa.Connection) -> None:
    groups = conn.execute(
        sa.select(_subs.c.question_key, _subs.c.domain).group_by(_subs.c.question_key, _subs.c.domain).having(sa.func.count() > 1)
    ).all()
    for key, domain in groups:
        rows = conn.execute(
            sa.select(_subs.c.id, _subs.c.source, _subs.c.uses, _subs.c.successes)
            .where(_subs.c.question_key == key, _subs.c.domain == domain)
            .order_by(_subs.c.id)
        ).all()
        keep = rows[0]
        source = next((r.source for r in rows if r.source), "")
        conn.execute(
            _subs.update()
            .where(_subs.c.id == keep.id)
            .values(source=source, uses=sum(r.uses for r in rows), successes=sum(r.successes for r in rows))
        )
        conn.execute(_subs.delete().where(_subs.c.id.in_([r.id for r in rows[1:]])))


def upgrade() -> None:
    conn = op.get_bind()
    _fix_keys(conn)
    _merge_twins(conn)
    op.drop_index("ix_subroutines_question_key", table_name="subroutines")
    op.create_index("uq_subroutines_question_key_domain", "subroutines", ["question_key", "domain"], unique=True)
    op.create_table(
        "memory_imports",
        sa.Column("content_hash", sa.String(64), primary_key=True),
        sa.Column("source", sa.String(1024), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("imported_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("memory_imports")
    op.drop_index("uq_subroutines_question_key_domain", table_name="subroutines")
    op.create_index("ix_subroutines_question_key", "subroutines", ["question_key"])
