"""site renders: the rendered display check's result per site and sweep

Revision ID: m0002_site_renders
Revises: m0001
Create Date: 2026-12-06
"""

from alembic import op
import sqlalchemy as sa


revision = 'm0002_site_renders'
down_revision = 'm0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('site_renders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sweep_id', sa.Integer(), nullable=False),
    sa.Column('site_key', sa.String(length=512), nullable=False),
    sa.Column('target', sa.Text(), nullable=False),
    sa.Column('url', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('verdict', sa.String(length=16), nullable=True),
    sa.Column('document', sa.JSON(), nullable=False),
    sa.Column('rendered_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['sweep_id'], ['sweeps.id'], name=op.f('fk_site_renders_sweep_id_sweeps')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_site_renders')),
    sa.UniqueConstraint('sweep_id', 'site_key', name=op.f('uq_site_renders_sweep_id'))
    )
    with op.batch_alter_table('site_renders', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_site_renders_sweep_id'), ['sweep_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('site_renders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_site_renders_sweep_id'))
    op.drop_table('site_renders')
