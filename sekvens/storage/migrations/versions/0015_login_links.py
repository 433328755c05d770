"""login links: one-time sign-in codes (hashed), each exchanged once for a session token

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05 09:00:00
"""

from alembic import op
import sqlalchemy as sa
import sekvens.storage.types

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('login_links',
    sa.Column('id', _ID, nullable=False),
    sa.Column('organization_id', _ID, nullable=False),
    sa.Column('user_id', _ID, nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sekvens.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sekvens.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_at', sekvens.storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('token_id', _ID, nullable=True),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_login_links_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['token_id'], ['api_tokens.id'], name=op.f('fk_login_links_token_id_api_tokens'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_login_links_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_login_links')),
    sa.UniqueConstraint('code_hash', name=op.f('uq_login_links_code_hash'))
    )
    op.create_index(op.f('ix_login_links_organization_id'), 'login_links', ['organization_id'], unique=False)
    op.create_index(op.f('ix_login_links_token_id'), 'login_links', ['token_id'], unique=False)
    op.create_index(op.f('ix_login_links_user_id'), 'login_links', ['user_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_login_links_user_id'), table_name='login_links')
    op.drop_index(op.f('ix_login_links_token_id'), table_name='login_links')
    op.drop_index(op.f('ix_login_links_organization_id'), table_name='login_links')
    op.drop_table('login_links')
