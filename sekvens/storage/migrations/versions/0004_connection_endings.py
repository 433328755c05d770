"""connection endings: activity close reasons, error codes, suppression list, opt-out option

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 16:50:00
"""

from alembic import op
import sqlalchemy as sa
import sekvens.storage.types

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('suppressed_addresses',
    sa.Column('id', _ID, nullable=False),
    sa.Column('organization_id', _ID, nullable=False),
    sa.Column('address', sa.String(length=254), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('note', sa.String(length=400), nullable=False),
    sa.Column('created_by_id', _ID, nullable=True),
    sa.Column('created_at', sekvens.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_suppressed_addresses_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_suppressed_addresses_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_suppressed_addresses')),
    sa.UniqueConstraint('organization_id', 'address', name=op.f('uq_suppressed_addresses_organization_id_address'))
    )
    op.create_index(op.f('ix_suppressed_addresses_organization_id'), 'suppressed_addresses', ['organization_id'], unique=False)
    with op.batch_alter_table('activities') as batch_op:
        batch_op.add_column(sa.Column('close_reason', sa.String(length=40), nullable=True))
    with op.batch_alter_table('connections') as batch_op:
        batch_op.add_column(sa.Column('error_code', sa.String(length=40), nullable=True))
    with op.batch_alter_table('sequences') as batch_op:
        batch_op.add_column(sa.Column('skip_opted_out_email', sa.Boolean(), server_default=sa.false(), nullable=False))
    # Activities of connections that had already ended were left OPEN: close them now.
    op.execute(
        "UPDATE activities SET status = 'CANCELED', close_reason = ("
        " SELECT COALESCE(c.reason, 'STEP_FAILED') FROM connections c"
        " WHERE c.id = activities.connection_id),"
        " closed_at = (SELECT c.ended_at FROM connections c WHERE c.id = activities.connection_id)"
        " WHERE status = 'OPEN' AND connection_id IN ("
        " SELECT id FROM connections WHERE status NOT IN ('CONNECTED', 'PAUSED'))"
    )


def downgrade() -> None:
    with op.batch_alter_table('sequences') as batch_op:
        batch_op.drop_column('skip_opted_out_email')
    with op.batch_alter_table('connections') as batch_op:
        batch_op.drop_column('error_code')
    with op.batch_alter_table('activities') as batch_op:
        batch_op.drop_column('close_reason')
    op.drop_index(op.f('ix_suppressed_addresses_organization_id'), table_name='suppressed_addresses')
    op.drop_table('suppressed_addresses')
