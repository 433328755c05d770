"""throttles: the wait reason THROTTLED in the check of outbox.wait_reason, and an index of
the outbox by organization and send time (the sends counted against the limits)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 02:00:00
"""

from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def _replace(reasons: str) -> None:
    with op.batch_alter_table('outbox') as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_outbox_wait_reason'), type_='check')
        batch_op.create_check_constraint('wait_reason', f"wait_reason IN ({reasons})")


def upgrade() -> None:
    _replace("'WAITING_FOR_SEND_WINDOW', 'THROTTLED'")
    op.create_index('ix_outbox_org_sent', 'outbox', ['organization_id', 'sent_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_outbox_org_sent', table_name='outbox')
    # A throttled message can't keep its reason under the old check: it is simply due.
    op.execute("UPDATE outbox SET wait_reason = NULL WHERE wait_reason = 'THROTTLED'")
    _replace("'WAITING_FOR_SEND_WINDOW'")
