"""initial schema: concepts, subroutines, episodes, store metadata

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _embedding_columns() -> list[sa.Column]:
    return [sa.Column("embedding", sa.LargeBinary(), nullable=True), sa.Column("embedder", sa.String(128), nullable=True)]


def upgrade() -> None:
    meta = op.create_table(
        "mnemos_meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.String(256), nullable=False),
    )
    op.bulk_insert(meta, [{"key": "store_id", "value": uuid.uuid4().hex}])

    op.create_table(
        "concepts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(512), nullable=False, unique=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("cues", sa.JSON(), nullable=False),
        sa.Column("notes", sa.JSON(), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("output_type", sa.String(256), nullable=False),
        sa.Column("domain", sa.String(128), nullable=False),
        sa.Column("problems", sa.JSON(), nullable=False),
        sa.Column("successes", sa.Integer(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        *_embedding_columns(),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_concepts_kind", "concepts", ["kind"])
    op.create_index("ix_concepts_domain", "concepts", ["domain"])

    op.create_table(
        "subroutines",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("question_key", sa.String(40), nullable=False),
        sa.Column("procedure", sa.Text(), nullable=False),
        sa.Column("domain", sa.String(128), nullable=False),
        sa.Column("source", sa.String(512), nullable=False),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.Column("successes", sa.Integer(), nullable=False),
        *_embedding_columns(),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_subroutines_domain", "subroutines", ["domain"])
    op.create_index("ix_subroutines_question_key", "subroutines", ["question_key"])

    op.create_table(
        "episodes",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(128), nullable=False),
        sa.Column("problem_id", sa.String(256), nullable=False),
        sa.Column("domain", sa.String(128), nullable=False),
        sa.Column("input", sa.Text(), nullable=False),
        sa.Column("trace", sa.JSON(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("generated_tokens", sa.Integer(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("concepts_offered", sa.JSON(), nullable=False),
        sa.Column("concepts_used", sa.JSON(), nullable=False),
        sa.Column("subroutines_offered", sa.JSON(), nullable=False),
        sa.Column("subroutines_used", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_episodes_run_problem", "episodes", ["run_id", "problem_id"])


def downgrade() -> None:
    op.drop_table("episodes")
    op.drop_table("subroutines")
    op.drop_table("concepts")
    op.drop_table("mnemos_meta")
