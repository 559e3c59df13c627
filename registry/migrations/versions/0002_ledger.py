"""scoring ledger (arts. 34-44, 55): append-only, hash-chained entries and the chain head

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01

The ledger's tables refuse UPDATE and DELETE at the database level, by triggers rather than by
grants: a trigger binds every role that is not allowed to drop it (the application's role included),
and it works the same on SQLite (RAISE(ABORT)) and PostgreSQL (RAISE EXCEPTION). The chain head is
the one row that moves, and only forwards.
"""

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


# The prev_hash of the first entry (registry.ledger.chain.GENESIS_HASH; copied, since a migration
# must not change when the code does).
GENESIS_HASH = '0' * 64

SQLITE_TRIGGERS = (
    """CREATE TRIGGER ledger_entries_no_update BEFORE UPDATE ON ledger_entries
       BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only: UPDATE refused'); END""",
    """CREATE TRIGGER ledger_entries_no_delete BEFORE DELETE ON ledger_entries
       BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only: DELETE refused'); END""",
    """CREATE TRIGGER ledger_chain_head_no_delete BEFORE DELETE ON ledger_chain_head
       BEGIN SELECT RAISE(ABORT, 'the ledger chain head cannot be deleted'); END""",
    """CREATE TRIGGER ledger_chain_head_forward BEFORE UPDATE ON ledger_chain_head
       WHEN NEW.seq <= OLD.seq OR NEW.id <> OLD.id
       BEGIN SELECT RAISE(ABORT, 'the ledger chain head only moves forwards'); END""",
)

POSTGRESQL_TRIGGERS = (
    """CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         RAISE EXCEPTION 'ledger entries are append-only: % refused on %', TG_OP, TG_TABLE_NAME
           USING ERRCODE = 'insufficient_privilege';
       END $$""",
    """CREATE FUNCTION ledger_head_forward() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         IF TG_OP <> 'UPDATE' OR NEW.seq <= OLD.seq OR NEW.id <> OLD.id THEN
           RAISE EXCEPTION 'the ledger chain head only moves forwards: % refused', TG_OP
             USING ERRCODE = 'insufficient_privilege';
         END IF;
         RETURN NEW;
       END $$""",
    """CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries
       FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()""",
    """CREATE TRIGGER ledger_entries_no_truncate BEFORE TRUNCATE ON ledger_entries
       FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change()""",
    """CREATE TRIGGER ledger_chain_head_forward BEFORE UPDATE OR DELETE ON ledger_chain_head
       FOR EACH ROW EXECUTE FUNCTION ledger_head_forward()""",
    """CREATE TRIGGER ledger_chain_head_no_truncate BEFORE TRUNCATE ON ledger_chain_head
       FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change()""",
)


def upgrade() -> None:
    op.create_table('ledger_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('object_kind', sa.String(length=16), nullable=False),
    sa.Column('object_code', sa.String(length=64), nullable=False),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('article', sa.String(length=32), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=True),
    sa.Column('finding_ref', sa.String(length=255), nullable=False),
    sa.Column('occurred_on', sa.Date(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.Column('corrects_id', sa.Integer(), nullable=True),
    sa.Column('recorded_by', sa.String(length=128), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['corrects_id'], ['ledger_entries.id'], name=op.f('fk_ledger_entries_corrects_id_ledger_entries')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_entries')),
    sa.UniqueConstraint('finding_ref', name=op.f('uq_ledger_entries_finding_ref')),
    sa.UniqueConstraint('hash', name=op.f('uq_ledger_entries_hash')),
    sa.UniqueConstraint('seq', name=op.f('uq_ledger_entries_seq'))
    )
    with op.batch_alter_table('ledger_entries', schema=None) as batch_op:
        batch_op.create_index('ix_ledger_entries_year_object', ['year', 'object_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_ledger_entries_object_code'), ['object_code'], unique=False)

    op.create_table('ledger_chain_head',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_chain_head'))
    )

    # The head exists from the start, so appends lock one existing row instead of racing to create it.
    op.execute("INSERT INTO ledger_chain_head (id, seq, hash, updated_at) "
               f"VALUES (1, 0, '{GENESIS_HASH}', CURRENT_TIMESTAMP)")

    triggers = SQLITE_TRIGGERS if op.get_bind().dialect.name == 'sqlite' else POSTGRESQL_TRIGGERS
    for statement in triggers:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        for name in ('ledger_entries_no_update', 'ledger_entries_no_delete',
                     'ledger_chain_head_no_delete', 'ledger_chain_head_forward'):
            op.execute(f'DROP TRIGGER IF EXISTS {name}')
    op.drop_table('ledger_chain_head')
    with op.batch_alter_table('ledger_entries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ledger_entries_object_code'))
        batch_op.drop_index('ix_ledger_entries_year_object')
    op.drop_table('ledger_entries')
    if op.get_bind().dialect.name != 'sqlite':
        op.execute('DROP FUNCTION IF EXISTS ledger_refuse_change()')
        op.execute('DROP FUNCTION IF EXISTS ledger_head_forward()')
