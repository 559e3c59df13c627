"""registry tables

Revision ID: 0001
Revises: 
Create Date: 2026-11-29
"""

from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('blacklist',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('match_key', sa.String(length=255), nullable=False),
    sa.Column('display_value', sa.String(length=255), nullable=False),
    sa.Column('value_enc', sa.Text(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_blacklist')),
    sa.UniqueConstraint('kind', 'match_key', name=op.f('uq_blacklist_kind'))
    )
    op.create_table('domain_filing_records',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('domain', sa.String(length=255), nullable=False),
    sa.Column('registrar', sa.String(length=64), nullable=False),
    sa.Column('reported_on', sa.Date(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_domain_filing_records')),
    sa.UniqueConstraint('domain', name=op.f('uq_domain_filing_records_domain'))
    )
    with op.batch_alter_table('domain_filing_records', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_domain_filing_records_registrar'), ['registrar'], unique=False)

    op.create_table('import_batches',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('file_name', sa.String(length=512), nullable=False),
    sa.Column('file_sha256', sa.String(length=64), nullable=False),
    sa.Column('rows', sa.Integer(), nullable=False),
    sa.Column('inserted', sa.Integer(), nullable=False),
    sa.Column('updated', sa.Integer(), nullable=False),
    sa.Column('unchanged', sa.Integer(), nullable=False),
    sa.Column('rejected', sa.Integer(), nullable=False),
    sa.Column('imported_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_import_batches'))
    )
    with op.batch_alter_table('import_batches', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_import_batches_file_sha256'), ['file_sha256'], unique=False)

    op.create_table('providers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('province', sa.String(length=16), nullable=False),
    sa.Column('parent_code', sa.String(length=64), nullable=True),
    sa.Column('licence_number', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_providers')),
    sa.UniqueConstraint('code', name=op.f('uq_providers_code'))
    )
    with op.batch_alter_table('providers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_providers_parent_code'), ['parent_code'], unique=False)

    op.create_table('subjects',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subject_number', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('subject_type', sa.String(length=8), nullable=False),
    sa.Column('province', sa.String(length=16), nullable=False),
    sa.Column('certificate_enc', sa.Text(), nullable=True),
    sa.Column('certificate_hash', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subjects')),
    sa.UniqueConstraint('subject_number', name=op.f('uq_subjects_subject_number'))
    )
    with op.batch_alter_table('subjects', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_subjects_certificate_hash'), ['certificate_hash'], unique=False)
        batch_op.create_index(batch_op.f('ix_subjects_name'), ['name'], unique=False)

    op.create_table('ip_filing_records',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('cidr', sa.String(length=64), nullable=False),
    sa.Column('first', sa.String(length=32), nullable=False),
    sa.Column('last', sa.String(length=32), nullable=False),
    sa.Column('prefixlen', sa.Integer(), nullable=False),
    sa.Column('unit', sa.String(length=64), nullable=False),
    sa.Column('user_code', sa.String(length=64), nullable=True),
    sa.Column('province', sa.String(length=16), nullable=True),
    sa.Column('reported_on', sa.Date(), nullable=True),
    sa.ForeignKeyConstraint(['user_code'], ['providers.code'], name=op.f('fk_ip_filing_records_user_code_providers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ip_filing_records')),
    sa.UniqueConstraint('cidr', name=op.f('uq_ip_filing_records_cidr'))
    )
    with op.batch_alter_table('ip_filing_records', schema=None) as batch_op:
        batch_op.create_index('ix_ip_filing_records_bounds', ['first', 'last'], unique=False)
        batch_op.create_index(batch_op.f('ix_ip_filing_records_unit'), ['unit'], unique=False)
        batch_op.create_index(batch_op.f('ix_ip_filing_records_user_code'), ['user_code'], unique=False)

    op.create_table('websites',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('website_number', sa.String(length=64), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('licence_number', sa.String(length=64), nullable=True),
    sa.Column('preapprovals', sa.Text(), nullable=True),
    sa.Column('contact_name', sa.String(length=128), nullable=True),
    sa.Column('contact_phone_enc', sa.Text(), nullable=True),
    sa.Column('contact_phone_hash', sa.String(length=64), nullable=True),
    sa.Column('contact_id_enc', sa.Text(), nullable=True),
    sa.Column('contact_id_hash', sa.String(length=64), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['subject_id'], ['subjects.id'], name=op.f('fk_websites_subject_id_subjects')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_websites')),
    sa.UniqueConstraint('website_number', name=op.f('uq_websites_website_number'))
    )
    with op.batch_alter_table('websites', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_websites_contact_id_hash'), ['contact_id_hash'], unique=False)
        batch_op.create_index(batch_op.f('ix_websites_contact_phone_hash'), ['contact_phone_hash'], unique=False)
        batch_op.create_index(batch_op.f('ix_websites_subject_id'), ['subject_id'], unique=False)

    op.create_table('access_records',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('website_id', sa.Integer(), nullable=False),
    sa.Column('provider_code', sa.String(length=64), nullable=False),
    sa.Column('addresses', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['provider_code'], ['providers.code'], name=op.f('fk_access_records_provider_code_providers')),
    sa.ForeignKeyConstraint(['website_id'], ['websites.id'], name=op.f('fk_access_records_website_id_websites'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_access_records')),
    sa.UniqueConstraint('website_id', 'provider_code', name=op.f('uq_access_records_website_id'))
    )
    with op.batch_alter_table('access_records', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_access_records_provider_code'), ['provider_code'], unique=False)

    op.create_table('website_addresses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('website_id', sa.Integer(), nullable=False),
    sa.Column('ip', sa.String(length=45), nullable=False),
    sa.ForeignKeyConstraint(['website_id'], ['websites.id'], name=op.f('fk_website_addresses_website_id_websites'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_website_addresses')),
    sa.UniqueConstraint('website_id', 'ip', name=op.f('uq_website_addresses_website_id'))
    )
    with op.batch_alter_table('website_addresses', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_website_addresses_ip'), ['ip'], unique=False)

    op.create_table('website_domains',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('website_id', sa.Integer(), nullable=False),
    sa.Column('domain', sa.String(length=255), nullable=False),
    sa.Column('independent_domain', sa.String(length=255), nullable=False),
    sa.ForeignKeyConstraint(['website_id'], ['websites.id'], name=op.f('fk_website_domains_website_id_websites'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_website_domains')),
    sa.UniqueConstraint('domain', name=op.f('uq_website_domains_domain'))
    )
    with op.batch_alter_table('website_domains', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_website_domains_independent_domain'), ['independent_domain'], unique=False)
        batch_op.create_index(batch_op.f('ix_website_domains_website_id'), ['website_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('website_domains', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_website_domains_website_id'))
        batch_op.drop_index(batch_op.f('ix_website_domains_independent_domain'))

    op.drop_table('website_domains')
    with op.batch_alter_table('website_addresses', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_website_addresses_ip'))

    op.drop_table('website_addresses')
    with op.batch_alter_table('access_records', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_access_records_provider_code'))

    op.drop_table('access_records')
    with op.batch_alter_table('websites', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_websites_subject_id'))
        batch_op.drop_index(batch_op.f('ix_websites_contact_phone_hash'))
        batch_op.drop_index(batch_op.f('ix_websites_contact_id_hash'))

    op.drop_table('websites')
    with op.batch_alter_table('ip_filing_records', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ip_filing_records_user_code'))
        batch_op.drop_index(batch_op.f('ix_ip_filing_records_unit'))
        batch_op.drop_index('ix_ip_filing_records_bounds')

    op.drop_table('ip_filing_records')
    with op.batch_alter_table('subjects', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_subjects_name'))
        batch_op.drop_index(batch_op.f('ix_subjects_certificate_hash'))

    op.drop_table('subjects')
    with op.batch_alter_table('providers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_providers_parent_code'))

    op.drop_table('providers')
    with op.batch_alter_table('import_batches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_import_batches_file_sha256'))

    op.drop_table('import_batches')
    with op.batch_alter_table('domain_filing_records', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_domain_filing_records_registrar'))

    op.drop_table('domain_filing_records')
    op.drop_table('blacklist')
