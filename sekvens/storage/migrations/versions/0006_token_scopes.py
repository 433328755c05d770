"""token scopes, and the token behind each audit entry

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 22:00:00
"""

from alembic import op
import sqlalchemy as sa
import sekvens.storage.types

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    with op.batch_alter_table('api_tokens') as batch_op:
        # Tokens made before scopes existed keep doing everything their user may.
        batch_op.add_column(sa.Column('scopes', sekvens.storage.types.Json, server_default='["FULL"]', nullable=False))
    with op.batch_alter_table('audit_log') as batch_op:
        batch_op.add_column(sa.Column('token_id', _ID, nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_audit_log_token_id_api_tokens'), 'api_tokens', ['token_id'], ['id'], ondelete='SET NULL')


def downgrade() -> None:
    with op.batch_alter_table('audit_log') as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_audit_log_token_id_api_tokens'), type_='foreignkey')
        batch_op.drop_column('token_id')
    with op.batch_alter_table('api_tokens') as batch_op:
        batch_op.drop_column('scopes')
