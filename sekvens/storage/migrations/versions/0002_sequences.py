"""sequences, versions, steps, tags, templates, grid preferences, connections

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 06:10:18.553991
"""

from alembic import op
import sqlalchemy as sa
import sekvens.storage.types
from sqlalchemy.dialects import postgresql

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('tags',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('organization_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('parent_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('created_at', sekvens.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_tags_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['parent_id'], ['tags.id'], name=op.f('fk_tags_parent_id_tags'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tags'))
    )
    with op.batch_alter_table('tags', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tags_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_tags_parent_id'), ['parent_id'], unique=False)

    op.create_table('grid_preferences',
    sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('view', sa.String(length=64), nullable=False),
    sa.Column('columns', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('updated_at', sekvens.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_grid_preferences_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'view', name=op.f('pk_grid_preferences'))
    )
    op.create_table('sequence_templates',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('organization_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=160), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('record_type', sa.String(length=64), nullable=False),
    sa.Column('steps', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created_by_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('created_at', sekvens.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_sequence_templates_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_sequence_templates_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sequence_templates')),
    sa.UniqueConstraint('organization_id', 'name', name=op.f('uq_sequence_templates_organization_id_name'))
    )
    with op.batch_alter_table('sequence_templates', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sequence_templates_organization_id'), ['organization_id'], unique=False)

    op.create_table('sequences',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('organization_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=160), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('search_text', sa.Text(), nullable=False),
    sa.Column('record_type_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('is_personal', sa.Boolean(), nullable=False),
    sa.Column('owner_user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('owner_team_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('assign_to', sa.String(length=16), nullable=False),
    sa.Column('assign_field', sa.String(length=64), nullable=True),
    sa.Column('member_condition', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('exit_on_reply', sa.Boolean(), nullable=False),
    sa.Column('skip_non_working_time', sa.Boolean(), nullable=False),
    sa.Column('current_version_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('created_by_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('created_at', sekvens.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sekvens.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('activated_at', sekvens.storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('INACTIVE', 'ACTIVE')", name=op.f('ck_sequences_status')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_sequences_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_sequences_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['owner_team_id'], ['teams.id'], name=op.f('fk_sequences_owner_team_id_teams'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['owner_user_id'], ['users.id'], name=op.f('fk_sequences_owner_user_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['record_type_id'], ['record_types.id'], name=op.f('fk_sequences_record_type_id_record_types')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sequences')),
    sa.UniqueConstraint('organization_id', 'key', name=op.f('uq_sequences_organization_id_key'))
    )
    with op.batch_alter_table('sequences', schema=None) as batch_op:
        batch_op.create_index('ix_sequences_org_name', ['organization_id', 'name'], unique=False)
        batch_op.create_index('ix_sequences_org_status', ['organization_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_sequences_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_sequences_owner_user_id'), ['owner_user_id'], unique=False)

    op.create_table('sequence_tags',
    sa.Column('sequence_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('tag_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['sequence_id'], ['sequences.id'], name=op.f('fk_sequence_tags_sequence_id_sequences'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tag_id'], ['tags.id'], name=op.f('fk_sequence_tags_tag_id_tags'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('sequence_id', 'tag_id', name=op.f('pk_sequence_tags'))
    )
    with op.batch_alter_table('sequence_tags', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sequence_tags_tag_id'), ['tag_id'], unique=False)

    op.create_table('sequence_versions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('sequence_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('change_description', sa.Text(), nullable=False),
    sa.Column('created_by_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('created_at', sekvens.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('activated_at', sekvens.storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('activated_by_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.CheckConstraint("status IN ('DRAFT', 'ACTIVE', 'RETIRED')", name=op.f('ck_sequence_versions_status')),
    sa.ForeignKeyConstraint(['activated_by_id'], ['users.id'], name=op.f('fk_sequence_versions_activated_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_sequence_versions_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['sequence_id'], ['sequences.id'], name=op.f('fk_sequence_versions_sequence_id_sequences'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sequence_versions')),
    sa.UniqueConstraint('sequence_id', 'number', name=op.f('uq_sequence_versions_sequence_id_number'))
    )
    with op.batch_alter_table('sequence_versions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sequence_versions_sequence_id'), ['sequence_id'], unique=False)

    with op.batch_alter_table('sequences', schema=None) as batch_op:
        batch_op.create_foreign_key(
            batch_op.f('fk_sequences_current_version_id_sequence_versions'),
            'sequence_versions', ['current_version_id'], ['id'], ondelete='SET NULL'
        )

    op.create_table('connections',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('organization_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('sequence_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('version_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('record_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=40), nullable=True),
    sa.Column('current_step_key', sa.String(length=64), nullable=True),
    sa.Column('steps_done', sa.Integer(), nullable=False),
    sa.Column('step_entered_at', sekvens.storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('next_run_at', sekvens.storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('lease_owner', sa.String(length=64), nullable=True),
    sa.Column('lease_expires_at', sekvens.storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('connected_by_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('created_at', sekvens.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sekvens.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sekvens.storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['connected_by_id'], ['users.id'], name=op.f('fk_connections_connected_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_connections_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['record_id'], ['records.id'], name=op.f('fk_connections_record_id_records'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['sequence_id'], ['sequences.id'], name=op.f('fk_connections_sequence_id_sequences'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['version_id'], ['sequence_versions.id'], name=op.f('fk_connections_version_id_sequence_versions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_connections'))
    )
    with op.batch_alter_table('connections', schema=None) as batch_op:
        batch_op.create_index('ix_connections_due', ['status', 'next_run_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_connections_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index('ix_connections_record', ['record_id'], unique=False)
        batch_op.create_index('ix_connections_sequence_status', ['sequence_id', 'status'], unique=False)
        batch_op.create_index('uq_connections_running', ['sequence_id', 'record_id'], unique=True, postgresql_where=sa.text("status IN ('CONNECTED', 'PAUSED')"), sqlite_where=sa.text("status IN ('CONNECTED', 'PAUSED')"))

    op.create_table('sequence_steps',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('version_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('type', sa.String(length=100), nullable=False),
    sa.Column('name', sa.String(length=160), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('config', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('parent_key', sa.String(length=64), nullable=True),
    sa.Column('branch', sa.String(length=8), nullable=True),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['version_id'], ['sequence_versions.id'], name=op.f('fk_sequence_steps_version_id_sequence_versions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sequence_steps')),
    sa.UniqueConstraint('version_id', 'key', name=op.f('uq_sequence_steps_version_id_key'))
    )
    with op.batch_alter_table('sequence_steps', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sequence_steps_version_id'), ['version_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('sequences', schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f('fk_sequences_current_version_id_sequence_versions'), type_='foreignkey'
        )

    with op.batch_alter_table('sequence_steps', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sequence_steps_version_id'))

    op.drop_table('sequence_steps')
    with op.batch_alter_table('connections', schema=None) as batch_op:
        batch_op.drop_index('uq_connections_running', postgresql_where=sa.text("status IN ('CONNECTED', 'PAUSED')"), sqlite_where=sa.text("status IN ('CONNECTED', 'PAUSED')"))
        batch_op.drop_index('ix_connections_sequence_status')
        batch_op.drop_index('ix_connections_record')
        batch_op.drop_index(batch_op.f('ix_connections_organization_id'))
        batch_op.drop_index('ix_connections_due')

    op.drop_table('connections')
    with op.batch_alter_table('sequence_versions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sequence_versions_sequence_id'))

    op.drop_table('sequence_versions')
    with op.batch_alter_table('sequence_tags', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sequence_tags_tag_id'))

    op.drop_table('sequence_tags')
    with op.batch_alter_table('sequences', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sequences_owner_user_id'))
        batch_op.drop_index(batch_op.f('ix_sequences_organization_id'))
        batch_op.drop_index('ix_sequences_org_status')
        batch_op.drop_index('ix_sequences_org_name')

    op.drop_table('sequences')
    with op.batch_alter_table('sequence_templates', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sequence_templates_organization_id'))

    op.drop_table('sequence_templates')
    op.drop_table('grid_preferences')
    with op.batch_alter_table('tags', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tags_parent_id'))
        batch_op.drop_index(batch_op.f('ix_tags_organization_id'))

    op.drop_table('tags')
