"""model registry: registered models, versions (soft-deleted, never renumbered), tags, aliases

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('registered_models',
    sa.Column('registered_model_id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=256), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('creation_timestamp', sa.BigInteger(), nullable=False),
    sa.Column('last_updated_timestamp', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('registered_model_id', name=op.f('pk_registered_models')),
    sa.UniqueConstraint('name', name=op.f('uq_registered_models_name'))
    )
    op.create_table('model_versions',
    sa.Column('registered_model_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('creation_timestamp', sa.BigInteger(), nullable=False),
    sa.Column('last_updated_timestamp', sa.BigInteger(), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('user_id', sa.String(length=256), nullable=True),
    sa.Column('current_stage', sa.String(length=20), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('storage_location', sa.Text(), nullable=False),
    sa.Column('run_id', sa.String(length=256), nullable=True),
    sa.Column('run_link', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('status_message', sa.Text(), nullable=True),
    sa.Column('deleted_time', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['registered_model_id'], ['registered_models.registered_model_id'], name=op.f('fk_model_versions_registered_model_id_registered_models'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('registered_model_id', 'version', name=op.f('pk_model_versions'))
    )
    with op.batch_alter_table('model_versions', schema=None) as batch_op:
        batch_op.create_index('ix_model_versions_run_id', ['run_id'], unique=False)

    op.create_table('registered_model_tags',
    sa.Column('registered_model_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=250), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['registered_model_id'], ['registered_models.registered_model_id'], name=op.f('fk_registered_model_tags_registered_model_id_registered_models'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('registered_model_id', 'key', name=op.f('pk_registered_model_tags'))
    )
    op.create_table('model_version_tags',
    sa.Column('registered_model_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('key', sa.String(length=250), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['registered_model_id', 'version'], ['model_versions.registered_model_id', 'model_versions.version'], name=op.f('fk_model_version_tags_registered_model_id_model_versions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('registered_model_id', 'version', 'key', name=op.f('pk_model_version_tags'))
    )
    op.create_table('registered_model_aliases',
    sa.Column('registered_model_id', sa.Integer(), nullable=False),
    sa.Column('alias', sa.String(length=256), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['registered_model_id', 'version'], ['model_versions.registered_model_id', 'model_versions.version'], name=op.f('fk_registered_model_aliases_registered_model_id_model_versions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('registered_model_id', 'alias', name=op.f('pk_registered_model_aliases'))
    )


def downgrade() -> None:
    op.drop_table('registered_model_aliases')
    op.drop_table('model_version_tags')
    op.drop_table('registered_model_tags')
    with op.batch_alter_table('model_versions', schema=None) as batch_op:
        batch_op.drop_index('ix_model_versions_run_id')

    op.drop_table('model_versions')
    op.drop_table('registered_models')
