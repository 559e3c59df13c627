"""filing workflows (arts. 18-22, annex 1): applications and their transitions, filing passwords
(argon2id hashes only), the orders verified findings open, and the operator-loaded official
working-day schedules

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('filing_applications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('state', sa.String(length=24), nullable=False),
    sa.Column('website_number', sa.String(length=64), nullable=True),
    sa.Column('provider_code', sa.String(length=64), nullable=True),
    sa.Column('provider_province', sa.String(length=16), nullable=True),
    sa.Column('review_province', sa.String(length=16), nullable=True),
    sa.Column('submitted_by', sa.String(length=128), nullable=False),
    sa.Column('submitted_role', sa.String(length=16), nullable=False),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('truthfulness', sa.JSON(), nullable=True),
    sa.Column('checks', sa.JSON(), nullable=True),
    sa.Column('result', sa.JSON(), nullable=True),
    sa.Column('due', sa.Date(), nullable=True),
    sa.Column('due_estimated', sa.Boolean(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_filing_applications'))
    )
    with op.batch_alter_table('filing_applications', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_filing_applications_provider_code'), ['provider_code'], unique=False)
        batch_op.create_index('ix_filing_applications_state_kind', ['state', 'kind'], unique=False)
        batch_op.create_index(batch_op.f('ix_filing_applications_website_number'), ['website_number'], unique=False)

    op.create_table('filing_orders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('provider_code', sa.String(length=64), nullable=True),
    sa.Column('finding_ref', sa.String(length=80), nullable=False),
    sa.Column('finding_code', sa.String(length=32), nullable=False),
    sa.Column('target', sa.String(length=255), nullable=False),
    sa.Column('website_number', sa.String(length=64), nullable=True),
    sa.Column('article', sa.String(length=32), nullable=True),
    sa.Column('opened_by', sa.String(length=128), nullable=False),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('due', sa.Date(), nullable=False),
    sa.Column('estimated', sa.Boolean(), nullable=False),
    sa.Column('state', sa.String(length=8), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_by', sa.String(length=128), nullable=True),
    sa.Column('closed_reason', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_filing_orders')),
    sa.UniqueConstraint('finding_ref', name=op.f('uq_filing_orders_finding_ref'))
    )
    with op.batch_alter_table('filing_orders', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_filing_orders_provider_code'), ['provider_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_filing_orders_state'), ['state'], unique=False)
        batch_op.create_index(batch_op.f('ix_filing_orders_target'), ['target'], unique=False)

    op.create_table('work_calendar_days',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_work_calendar_days')),
    sa.UniqueConstraint('day', name=op.f('uq_work_calendar_days_day'))
    )
    with op.batch_alter_table('work_calendar_days', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_work_calendar_days_year'), ['year'], unique=False)

    op.create_table('work_calendar_years',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('file_name', sa.String(length=512), nullable=False),
    sa.Column('file_sha256', sa.String(length=64), nullable=False),
    sa.Column('holidays', sa.Integer(), nullable=False),
    sa.Column('workdays', sa.Integer(), nullable=False),
    sa.Column('loaded_by', sa.String(length=128), nullable=False),
    sa.Column('loaded_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_work_calendar_years')),
    sa.UniqueConstraint('year', name=op.f('uq_work_calendar_years_year'))
    )
    op.create_table('filing_credentials',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('website_number', sa.String(length=64), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('application_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['application_id'], ['filing_applications.id'], name=op.f('fk_filing_credentials_application_id_filing_applications')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_filing_credentials')),
    sa.UniqueConstraint('website_number', name=op.f('uq_filing_credentials_website_number'))
    )
    op.create_table('filing_transitions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('application_id', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('from_state', sa.String(length=24), nullable=True),
    sa.Column('to_state', sa.String(length=24), nullable=False),
    sa.Column('actor', sa.String(length=128), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('organisation', sa.String(length=64), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['application_id'], ['filing_applications.id'], name=op.f('fk_filing_transitions_application_id_filing_applications')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_filing_transitions'))
    )
    with op.batch_alter_table('filing_transitions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_filing_transitions_application_id'), ['application_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('filing_transitions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_filing_transitions_application_id'))

    op.drop_table('filing_transitions')
    op.drop_table('filing_credentials')
    op.drop_table('work_calendar_years')
    with op.batch_alter_table('work_calendar_days', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_work_calendar_days_year'))

    op.drop_table('work_calendar_days')
    with op.batch_alter_table('filing_orders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_filing_orders_target'))
        batch_op.drop_index(batch_op.f('ix_filing_orders_state'))
        batch_op.drop_index(batch_op.f('ix_filing_orders_provider_code'))

    op.drop_table('filing_orders')
    with op.batch_alter_table('filing_applications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_filing_applications_website_number'))
        batch_op.drop_index('ix_filing_applications_state_kind')
        batch_op.drop_index(batch_op.f('ix_filing_applications_provider_code'))

    op.drop_table('filing_applications')
