"""check constraints for the vocabulary columns: statuses, phases, reasons, kinds, sources

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 12:00:00
"""

from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

_REASONS = (
    "'SEQUENCE_COMPLETED', 'USER_DISCONNECTED', 'PARENT_SEQUENCE_DEACTIVATED', "
    "'RECORD_DEACTIVATED', 'EXIT_CRITERION_MET', 'ADVANCED_TO_OTHER_SEQUENCE', 'OPTED_OUT', "
    "'UNSUBSCRIBED', 'NO_EMAIL_ADDRESS', 'NO_ASSIGNEE', 'HAND_OVER_REFUSED', 'DELIVERY_FAILED', "
    "'STEP_FAILED'"
)

#: table -> (constraint name, condition), as tables.py builds them from the domain's enums.
CHECKS = {
    'sequences': [
        ('assign_to', "assign_to IN ('RECORD_OWNER', 'RECORD_FIELD', 'OWNING_TEAM', 'ACCESS_TEAM', 'CURRENT_USER')"),
    ],
    'sequence_steps': [
        ('branch', "branch IN ('NEXT', 'YES', 'NO')"),
    ],
    'connections': [
        ('status', "status IN ('CONNECTED', 'PAUSED', 'COMPLETED', 'DISCONNECTED', 'ERROR')"),
        ('reason', f"reason IN ({_REASONS})"),
        ('phase', "phase IN ('EXECUTE', 'WAIT', 'ACTIVITY', 'EVENTS')"),
    ],
    'activities': [
        ('status', "status IN ('OPEN', 'COMPLETED', 'SKIPPED', 'CANCELED')"),
        ('close_reason', f"close_reason IN ({_REASONS})"),
        ('activity_kind', "activity_kind IN ('EMAIL', 'CALL', 'TASK', 'LINKEDIN')"),
    ],
    'outbox': [
        ('status', "status IN ('QUEUED', 'SENT', 'FAILED', 'STORED', 'CANCELED')"),
    ],
    'suppressed_addresses': [
        ('source', "source IN ('MANUAL', 'IMPORT', 'UNSUBSCRIBED', 'BOUNCED')"),
    ],
    'engagement_events': [
        ('kind', "kind IN ('EMAIL_DELIVERED', 'EMAIL_OPENED', 'EMAIL_REPLIED', 'LINK_CLICKED', 'ATTACHMENT_DOWNLOADED', 'EMAIL_BOUNCED')"),
    ],
}


def upgrade() -> None:
    for table, checks in CHECKS.items():
        with op.batch_alter_table(table) as batch_op:
            for name, condition in checks:
                batch_op.create_check_constraint(name, condition)


def downgrade() -> None:
    for table, checks in reversed(CHECKS.items()):
        with op.batch_alter_table(table) as batch_op:
            for name, _ in reversed(checks):
                batch_op.drop_constraint(batch_op.f(f'ck_{table}_{name}'), type_='check')
