"""exits, enrollment and jobs: the event kind MEETING_BOOKED, the connection reasons
MEETING_BOOKED, STAGE_REACHED and FIELD_CONDITION_MET, a sequence's exit criteria and
enrollment rules, the rule that enrolled a connection, and the jobs table

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 03:20:00
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
import sekvens.storage.types

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')
_KINDS = (
    "'EMAIL_DELIVERED', 'EMAIL_OPENED', 'EMAIL_REPLIED', 'LINK_CLICKED', "
    "'ATTACHMENT_DOWNLOADED', 'EMAIL_BOUNCED', 'EMAIL_AUTO_REPLY'"
)
_REASONS = (
    "'SEQUENCE_COMPLETED', 'USER_DISCONNECTED', 'PARENT_SEQUENCE_DEACTIVATED', "
    "'RECORD_DEACTIVATED', 'EXIT_CRITERION_MET', {new}'ADVANCED_TO_OTHER_SEQUENCE', 'OPTED_OUT', "
    "'UNSUBSCRIBED', 'BOUNCED', 'NO_EMAIL_ADDRESS', 'NO_ASSIGNEE', 'HAND_OVER_REFUSED', "
    "'DELIVERY_FAILED', 'STEP_FAILED'"
)
_NEW_REASONS = "'MEETING_BOOKED', 'STAGE_REACHED', 'FIELD_CONDITION_MET', "
#: (table, column) whose check lists the connection reasons.
_REASON_COLUMNS = (('connections', 'reason'), ('activities', 'close_reason'))


def _check(table: str, column: str, values: str) -> None:
    with op.batch_alter_table(table) as batch_op:
        batch_op.drop_constraint(batch_op.f(f'ck_{table}_{column}'), type_='check')
        batch_op.create_check_constraint(column, f"{column} IN ({values})")


def _time(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sekvens.storage.types.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    _check('engagement_events', 'kind', f"{_KINDS}, 'MEETING_BOOKED'")
    for table, column in _REASON_COLUMNS:
        _check(table, column, _REASONS.format(new=_NEW_REASONS))
    with op.batch_alter_table('sequences') as batch_op:
        batch_op.add_column(sa.Column('exit_criteria', _JSON, nullable=True))
        batch_op.add_column(sa.Column('enrollment_rules', _JSON, nullable=True))
    with op.batch_alter_table('connections') as batch_op:
        batch_op.add_column(sa.Column('enrolled_by', sa.String(length=64), nullable=True))
    op.create_table('jobs',
    sa.Column('id', _ID, nullable=False),
    sa.Column('organization_id', _ID, nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('input', _JSON, nullable=False),
    sa.Column('cursor', _JSON, nullable=False),
    sa.Column('total', sa.Integer(), nullable=True),
    sa.Column('done', sa.Integer(), nullable=False),
    sa.Column('skipped', _JSON, nullable=False),
    sa.Column('errors', _JSON, nullable=False),
    sa.Column('error_count', sa.Integer(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('result', _JSON, nullable=True),
    sa.Column('cancel_requested', sa.Boolean(), nullable=False),
    sa.Column('created_by_id', _ID, nullable=True),
    _time('created_at', nullable=False),
    _time('started_at'),
    _time('heartbeat_at'),
    _time('finished_at'),
    sa.CheckConstraint(
        "kind IN ('CONNECT_BY_FILTER', 'IMPORT_SEQUENCES', 'UPSERT_RECORDS')",
        name=op.f('ck_jobs_kind'),
    ),
    sa.CheckConstraint(
        "status IN ('QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELED')",
        name=op.f('ck_jobs_status'),
    ),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_jobs_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_jobs_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_jobs'))
    )
    op.create_index('ix_jobs_organization_id', 'jobs', ['organization_id'], unique=False)
    op.create_index('ix_jobs_status_created', 'jobs', ['status', 'created_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_jobs_status_created', table_name='jobs')
    op.drop_index('ix_jobs_organization_id', table_name='jobs')
    op.drop_table('jobs')
    with op.batch_alter_table('connections') as batch_op:
        batch_op.drop_column('enrolled_by')
    with op.batch_alter_table('sequences') as batch_op:
        batch_op.drop_column('enrollment_rules')
        batch_op.drop_column('exit_criteria')
    # Under the old checks the new endings read as the exit criterion they are, and a
    # meeting booked is dropped (nothing else reads it).
    for table, column in _REASON_COLUMNS:
        op.execute(
            f"UPDATE {table} SET {column} = 'EXIT_CRITERION_MET'"
            f" WHERE {column} IN ({_NEW_REASONS.rstrip(', ')})"
        )
        _check(table, column, _REASONS.format(new=''))
    op.execute("DELETE FROM engagement_events WHERE kind = 'MEETING_BOOKED'")
    _check('engagement_events', 'kind', _KINDS)
