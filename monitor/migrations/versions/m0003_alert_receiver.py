"""alert receiver: a keyed hash of each delivery's receiver, so a resend can skip receivers served

Revision ID: m0003_alert_receiver
Revises: m0002_site_renders
Create Date: 2026-11-30
"""

from alembic import op
import sqlalchemy as sa


revision = 'm0003_alert_receiver'
down_revision = 'm0002_site_renders'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('alert_deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('receiver', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('alert_deliveries', schema=None) as batch_op:
        batch_op.drop_column('receiver')
