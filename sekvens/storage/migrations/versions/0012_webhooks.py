"""webhooks: endpoints (URL, event types, secret and the previous one during a rotation,
enabled or disabled with its reason) and their messages (the durable queue and delivery log)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 03:30:00
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
import sekvens.storage.types

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def _time(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sekvens.storage.types.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table('webhook_endpoints',
    sa.Column('id', _ID, nullable=False),
    sa.Column('organization_id', _ID, nullable=False),
    sa.Column('url', sa.String(length=2000), nullable=False),
    sa.Column('description', sa.String(length=400), nullable=False),
    sa.Column('event_types', _JSON, nullable=False),
    sa.Column('secret', sa.String(length=200), nullable=False),
    sa.Column('previous_secret', sa.String(length=200), nullable=True),
    _time('previous_secret_until'),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('disabled_reason', sa.Text(), nullable=True),
    sa.Column('consecutive_failures', sa.Integer(), nullable=False),
    _time('created_at', False),
    _time('updated_at', False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_webhook_endpoints_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_endpoints'))
    )
    with op.batch_alter_table('webhook_endpoints', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_webhook_endpoints_organization_id'), ['organization_id'], unique=False)

    op.create_table('webhook_messages',
    sa.Column('id', _ID, nullable=False),
    sa.Column('organization_id', _ID, nullable=False),
    sa.Column('endpoint_id', _ID, nullable=False),
    sa.Column('message_id', sa.String(length=64), nullable=False),
    sa.Column('event_type', sa.String(length=64), nullable=False),
    sa.Column('payload', _JSON, nullable=False),
    _time('occurred_at', False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    _time('next_attempt_at'),
    sa.Column('response_code', sa.Integer(), nullable=True),
    sa.Column('latency_ms', sa.Integer(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    _time('delivered_at'),
    _time('created_at', False),
    sa.CheckConstraint("status IN ('PENDING', 'DELIVERED', 'FAILED')", name=op.f('ck_webhook_messages_status')),
    sa.ForeignKeyConstraint(['endpoint_id'], ['webhook_endpoints.id'], name=op.f('fk_webhook_messages_endpoint_id_webhook_endpoints'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_webhook_messages_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_messages')),
    sa.UniqueConstraint('message_id', name=op.f('uq_webhook_messages_message_id'))
    )
    with op.batch_alter_table('webhook_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_webhook_messages_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index('ix_webhook_messages_status_next', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index('ix_webhook_messages_endpoint', ['endpoint_id', 'id'], unique=False)


def downgrade() -> None:
    op.drop_table('webhook_messages')
    op.drop_table('webhook_endpoints')
