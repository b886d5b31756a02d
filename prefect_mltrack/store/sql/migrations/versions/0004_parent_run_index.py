"""partial index on runs' mlflow.parentRunId tag values: children of a run by index lookup

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

_WHERE = sa.text("key = 'mlflow.parentRunId'")


def upgrade() -> None:
    op.create_index('ix_tags_parent_run_id', 'tags', ['value'], unique=False,
                    sqlite_where=_WHERE, postgresql_where=_WHERE)


def downgrade() -> None:
    op.drop_index('ix_tags_parent_run_id', table_name='tags')
