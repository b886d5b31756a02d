"""logged models (tags, params, linked metrics), run outputs and model inputs, dataset inputs

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('datasets',
    sa.Column('dataset_id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('experiment_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=500), nullable=False),
    sa.Column('digest', sa.String(length=36), nullable=False),
    sa.Column('source_type', sa.String(length=36), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('dataset_schema', sa.Text(), nullable=True),
    sa.Column('profile', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['experiment_id'], ['experiments.experiment_id'], name=op.f('fk_datasets_experiment_id_experiments'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('dataset_id', name=op.f('pk_datasets'))
    )
    with op.batch_alter_table('datasets', schema=None) as batch_op:
        batch_op.create_index('ix_datasets_experiment_id_name_digest', ['experiment_id', 'name', 'digest'], unique=True)

    op.create_table('logged_models',
    sa.Column('model_id', sa.String(length=64), nullable=False),
    sa.Column('experiment_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=500), nullable=False),
    sa.Column('artifact_location', sa.Text(), nullable=False),
    sa.Column('creation_timestamp_ms', sa.BigInteger(), nullable=False),
    sa.Column('last_updated_timestamp_ms', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('lifecycle_stage', sa.String(length=20), nullable=False),
    sa.Column('model_type', sa.String(length=500), nullable=True),
    sa.Column('source_run_id', sa.String(length=32), nullable=True),
    sa.Column('status_message', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['experiment_id'], ['experiments.experiment_id'], name=op.f('fk_logged_models_experiment_id_experiments'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('model_id', name=op.f('pk_logged_models'))
    )
    with op.batch_alter_table('logged_models', schema=None) as batch_op:
        batch_op.create_index('ix_logged_models_experiment_id_creation_timestamp_ms', ['experiment_id', 'creation_timestamp_ms'], unique=False)
        batch_op.create_index('ix_logged_models_source_run_id', ['source_run_id'], unique=False)

    op.create_table('dataset_inputs',
    sa.Column('run_id', sa.String(length=32), nullable=False),
    sa.Column('dataset_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['dataset_id'], ['datasets.dataset_id'], name=op.f('fk_dataset_inputs_dataset_id_datasets'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['run_id'], ['runs.run_id'], name=op.f('fk_dataset_inputs_run_id_runs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('run_id', 'dataset_id', name=op.f('pk_dataset_inputs')),
    sqlite_with_rowid=False
    )
    with op.batch_alter_table('dataset_inputs', schema=None) as batch_op:
        batch_op.create_index('ix_dataset_inputs_dataset_id', ['dataset_id'], unique=False)

    op.create_table('logged_model_metrics',
    sa.Column('model_id', sa.String(length=64), nullable=False),
    sa.Column('key', sa.String(length=250), nullable=False),
    sa.Column('step', sa.BigInteger(), nullable=False),
    sa.Column('timestamp', sa.BigInteger(), nullable=False),
    sa.Column('value', sa.Double(), nullable=False),
    sa.Column('special', sa.SmallInteger(), nullable=False),
    sa.Column('run_id', sa.String(length=32), nullable=False),
    sa.Column('dataset_name', sa.String(length=500), nullable=False),
    sa.Column('dataset_digest', sa.String(length=36), nullable=False),
    sa.ForeignKeyConstraint(['model_id'], ['logged_models.model_id'], name=op.f('fk_logged_model_metrics_model_id_logged_models'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('model_id', 'key', 'step', 'timestamp', 'value', 'special', 'run_id', 'dataset_name', 'dataset_digest', name=op.f('pk_logged_model_metrics')),
    sqlite_with_rowid=False
    )
    op.create_table('logged_model_params',
    sa.Column('model_id', sa.String(length=64), nullable=False),
    sa.Column('key', sa.String(length=250), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['model_id'], ['logged_models.model_id'], name=op.f('fk_logged_model_params_model_id_logged_models'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('model_id', 'key', name=op.f('pk_logged_model_params')),
    sqlite_with_rowid=False
    )
    op.create_table('logged_model_tags',
    sa.Column('model_id', sa.String(length=64), nullable=False),
    sa.Column('key', sa.String(length=250), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['model_id'], ['logged_models.model_id'], name=op.f('fk_logged_model_tags_model_id_logged_models'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('model_id', 'key', name=op.f('pk_logged_model_tags')),
    sqlite_with_rowid=False
    )
    op.create_table('run_model_inputs',
    sa.Column('run_id', sa.String(length=32), nullable=False),
    sa.Column('model_id', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['model_id'], ['logged_models.model_id'], name=op.f('fk_run_model_inputs_model_id_logged_models'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['run_id'], ['runs.run_id'], name=op.f('fk_run_model_inputs_run_id_runs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('run_id', 'model_id', name=op.f('pk_run_model_inputs')),
    sqlite_with_rowid=False
    )
    op.create_table('run_outputs',
    sa.Column('run_id', sa.String(length=32), nullable=False),
    sa.Column('model_id', sa.String(length=64), nullable=False),
    sa.Column('step', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['model_id'], ['logged_models.model_id'], name=op.f('fk_run_outputs_model_id_logged_models'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['run_id'], ['runs.run_id'], name=op.f('fk_run_outputs_run_id_runs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('run_id', 'model_id', name=op.f('pk_run_outputs')),
    sqlite_with_rowid=False
    )
    with op.batch_alter_table('run_outputs', schema=None) as batch_op:
        batch_op.create_index('ix_run_outputs_model_id', ['model_id'], unique=False)

    op.create_table('dataset_input_tags',
    sa.Column('run_id', sa.String(length=32), nullable=False),
    sa.Column('dataset_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('key', sa.String(length=250), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['run_id', 'dataset_id'], ['dataset_inputs.run_id', 'dataset_inputs.dataset_id'], name=op.f('fk_dataset_input_tags_run_id_dataset_inputs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('run_id', 'dataset_id', 'key', name=op.f('pk_dataset_input_tags')),
    sqlite_with_rowid=False
    )


def downgrade() -> None:
    op.drop_table('dataset_input_tags')
    with op.batch_alter_table('run_outputs', schema=None) as batch_op:
        batch_op.drop_index('ix_run_outputs_model_id')

    op.drop_table('run_outputs')
    op.drop_table('run_model_inputs')
    op.drop_table('logged_model_tags')
    op.drop_table('logged_model_params')
    op.drop_table('logged_model_metrics')
    with op.batch_alter_table('dataset_inputs', schema=None) as batch_op:
        batch_op.drop_index('ix_dataset_inputs_dataset_id')

    op.drop_table('dataset_inputs')
    with op.batch_alter_table('logged_models', schema=None) as batch_op:
        batch_op.drop_index('ix_logged_models_source_run_id')
        batch_op.drop_index('ix_logged_models_experiment_id_creation_timestamp_ms')

    op.drop_table('logged_models')
    with op.batch_alter_table('datasets', schema=None) as batch_op:
        batch_op.drop_index('ix_datasets_experiment_id_name_digest')

    op.drop_table('datasets')
