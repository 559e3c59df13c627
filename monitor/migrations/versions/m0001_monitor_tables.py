"""monitor tables

Revision ID: m0001
Revises: 
Create Date: 2026-11-29
"""

from alembic import op
import sqlalchemy as sa


revision = 'm0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('schedules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('cron', sa.String(length=128), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('options', sa.JSON(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_schedules')),
    sa.UniqueConstraint('name', name=op.f('uq_schedules_name'))
    )
    op.create_table('scopes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('definition', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scopes')),
    sa.UniqueConstraint('name', name=op.f('uq_scopes_name'))
    )
    op.create_table('sweeps',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('scope', sa.JSON(), nullable=False),
    sa.Column('scope_key', sa.String(length=255), nullable=False),
    sa.Column('options', sa.JSON(), nullable=False),
    sa.Column('crawl_run_id', sa.String(length=64), nullable=True),
    sa.Column('counts', sa.JSON(), nullable=False),
    sa.Column('created_by', sa.String(length=128), nullable=True),
    sa.Column('schedule', sa.String(length=128), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sweeps'))
    )
    with op.batch_alter_table('sweeps', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sweeps_crawl_run_id'), ['crawl_run_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_sweeps_schedule'), ['schedule'], unique=False)
        batch_op.create_index(batch_op.f('ix_sweeps_scope_key'), ['scope_key'], unique=False)

    op.create_table('alert_deliveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sweep_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('endpoint', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['sweep_id'], ['sweeps.id'], name=op.f('fk_alert_deliveries_sweep_id_sweeps')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_deliveries'))
    )
    with op.batch_alter_table('alert_deliveries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alert_deliveries_sweep_id'), ['sweep_id'], unique=False)

    op.create_table('findings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('article', sa.String(length=32), nullable=False),
    sa.Column('target', sa.Text(), nullable=True),
    sa.Column('domain', sa.String(length=255), nullable=True),
    sa.Column('ip', sa.String(length=45), nullable=True),
    sa.Column('redirect_to', sa.Text(), nullable=True),
    sa.Column('party_kind', sa.String(length=16), nullable=False),
    sa.Column('party', sa.String(length=64), nullable=True),
    sa.Column('website_number', sa.String(length=64), nullable=True),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('first_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('first_sweep_id', sa.Integer(), nullable=False),
    sa.Column('last_sweep_id', sa.Integer(), nullable=False),
    sa.Column('evidence', sa.JSON(), nullable=False),
    sa.Column('decided_by', sa.String(length=128), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['first_sweep_id'], ['sweeps.id'], name=op.f('fk_findings_first_sweep_id_sweeps')),
    sa.ForeignKeyConstraint(['last_sweep_id'], ['sweeps.id'], name=op.f('fk_findings_last_sweep_id_sweeps')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_findings')),
    sa.UniqueConstraint('fingerprint', name=op.f('uq_findings_fingerprint'))
    )
    with op.batch_alter_table('findings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_findings_domain'), ['domain'], unique=False)
        batch_op.create_index(batch_op.f('ix_findings_first_sweep_id'), ['first_sweep_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_findings_ip'), ['ip'], unique=False)
        batch_op.create_index(batch_op.f('ix_findings_last_sweep_id'), ['last_sweep_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_findings_party'), ['party'], unique=False)
        batch_op.create_index('ix_findings_status_code', ['status', 'code'], unique=False)

    op.create_table('schedule_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('schedule', sa.String(length=128), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('claimed_by', sa.String(length=128), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('sweep_id', sa.Integer(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['sweep_id'], ['sweeps.id'], name=op.f('fk_schedule_runs_sweep_id_sweeps')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_schedule_runs')),
    sa.UniqueConstraint('schedule', 'due_at', name=op.f('uq_schedule_runs_schedule'))
    )
    op.create_table('finding_sightings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('finding_id', sa.Integer(), nullable=False),
    sa.Column('sweep_id', sa.Integer(), nullable=False),
    sa.Column('seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('evidence', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['finding_id'], ['findings.id'], name=op.f('fk_finding_sightings_finding_id_findings'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['sweep_id'], ['sweeps.id'], name=op.f('fk_finding_sightings_sweep_id_sweeps')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_finding_sightings')),
    sa.UniqueConstraint('finding_id', 'sweep_id', name=op.f('uq_finding_sightings_finding_id'))
    )
    with op.batch_alter_table('finding_sightings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_finding_sightings_finding_id'), ['finding_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_finding_sightings_sweep_id'), ['sweep_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('finding_sightings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_finding_sightings_sweep_id'))
        batch_op.drop_index(batch_op.f('ix_finding_sightings_finding_id'))

    op.drop_table('finding_sightings')
    op.drop_table('schedule_runs')
    with op.batch_alter_table('findings', schema=None) as batch_op:
        batch_op.drop_index('ix_findings_status_code')
        batch_op.drop_index(batch_op.f('ix_findings_party'))
        batch_op.drop_index(batch_op.f('ix_findings_last_sweep_id'))
        batch_op.drop_index(batch_op.f('ix_findings_ip'))
        batch_op.drop_index(batch_op.f('ix_findings_first_sweep_id'))
        batch_op.drop_index(batch_op.f('ix_findings_domain'))

    op.drop_table('findings')
    with op.batch_alter_table('alert_deliveries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alert_deliveries_sweep_id'))

    op.drop_table('alert_deliveries')
    with op.batch_alter_table('sweeps', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sweeps_scope_key'))
        batch_op.drop_index(batch_op.f('ix_sweeps_schedule'))
        batch_op.drop_index(batch_op.f('ix_sweeps_crawl_run_id'))

    op.drop_table('sweeps')
    op.drop_table('scopes')
    op.drop_table('schedules')
