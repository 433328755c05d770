"""send windows: organization and sequence windows, the outbox's wait reason and send time,
an index of the outbox by connection, and the `time_zone` field of existing built-in record
types (new organizations get it from their defaults)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 01:00:00
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
import sekvens.storage.types

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    with op.batch_alter_table('organizations') as batch_op:
        batch_op.add_column(sa.Column('send_window', _JSON, nullable=True))
    with op.batch_alter_table('sequences') as batch_op:
        batch_op.add_column(sa.Column('send_window', _JSON, nullable=True))
    with op.batch_alter_table('outbox') as batch_op:
        batch_op.add_column(sa.Column('wait_reason', sa.String(length=32), nullable=True))
        batch_op.add_column(
            sa.Column('send_after', sekvens.storage.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_check_constraint('wait_reason', "wait_reason IN ('WAITING_FOR_SEND_WINDOW')")
    op.create_index('ix_outbox_connection', 'outbox', ['connection_id'], unique=False)
    # The recipient's zone for the window: the built-in record types of organizations made
    # before this revision get the field new ones start with, after their own fields.
    op.execute(
        "INSERT INTO record_fields"
        " (record_type_id, name, display_name, type, options, required, position)"
        " SELECT t.id, 'time_zone', 'Time zone', 'TEXT', '[]', false,"
        " 1 + coalesce((SELECT max(f.position) FROM record_fields f"
        " WHERE f.record_type_id = t.id), -1)"
        " FROM record_types t WHERE t.is_builtin AND NOT EXISTS"
        " (SELECT 1 FROM record_fields f WHERE f.record_type_id = t.id AND f.name = 'time_zone')"
    )


def downgrade() -> None:
    op.drop_index('ix_outbox_connection', table_name='outbox')
    with op.batch_alter_table('outbox') as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_outbox_wait_reason'), type_='check')
        batch_op.drop_column('send_after')
        batch_op.drop_column('wait_reason')
    with op.batch_alter_table('sequences') as batch_op:
        batch_op.drop_column('send_window')
    with op.batch_alter_table('organizations') as batch_op:
        batch_op.drop_column('send_window')
