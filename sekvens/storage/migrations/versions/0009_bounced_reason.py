"""bounces: the connection reason BOUNCED in the checks of connections.reason and
activities.close_reason

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 01:30:00
"""

from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

_BEFORE = (
    "'SEQUENCE_COMPLETED', 'USER_DISCONNECTED', 'PARENT_SEQUENCE_DEACTIVATED', "
    "'RECORD_DEACTIVATED', 'EXIT_CRITERION_MET', 'ADVANCED_TO_OTHER_SEQUENCE', 'OPTED_OUT', "
    "'UNSUBSCRIBED', 'NO_EMAIL_ADDRESS', 'NO_ASSIGNEE', 'HAND_OVER_REFUSED', 'DELIVERY_FAILED', "
    "'STEP_FAILED'"
)
_AFTER = (
    "'SEQUENCE_COMPLETED', 'USER_DISCONNECTED', 'PARENT_SEQUENCE_DEACTIVATED', "
    "'RECORD_DEACTIVATED', 'EXIT_CRITERION_MET', 'ADVANCED_TO_OTHER_SEQUENCE', 'OPTED_OUT', "
    "'UNSUBSCRIBED', 'BOUNCED', 'NO_EMAIL_ADDRESS', 'NO_ASSIGNEE', 'HAND_OVER_REFUSED', "
    "'DELIVERY_FAILED', 'STEP_FAILED'"
)
#: (table, column) whose check lists the connection reasons.
_COLUMNS = (('connections', 'reason'), ('activities', 'close_reason'))


def _replace(reasons: str) -> None:
    for table, column in _COLUMNS:
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_constraint(batch_op.f(f'ck_{table}_{column}'), type_='check')
            batch_op.create_check_constraint(column, f"{column} IN ({reasons})")


def upgrade() -> None:
    _replace(_AFTER)


def downgrade() -> None:
    # Rows that ended BOUNCED can't be kept under the old check: they read DELIVERY_FAILED.
    op.execute("UPDATE connections SET reason = 'DELIVERY_FAILED' WHERE reason = 'BOUNCED'")
    op.execute(
        "UPDATE activities SET close_reason = 'DELIVERY_FAILED' WHERE close_reason = 'BOUNCED'"
    )
    _replace(_BEFORE)
