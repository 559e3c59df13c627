"""schedule skips: due times skipped because the previous run was still going

Revision ID: m0004_schedule_skips
Revises: m0003_alert_receiver
Create Date: 2026-11-30
"""

from alembic import op
import sqlalchemy as sa


revision = 'm0004_schedule_skips'
down_revision = 'm0003_alert_receiver'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('schedules', schema=None) as batch_op:
        batch_op.add_column(sa.Column('skipped_runs', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('last_skipped_due', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('schedules', schema=None) as batch_op:
        batch_op.drop_column('last_skipped_due')
        batch_op.drop_column('skipped_runs')
