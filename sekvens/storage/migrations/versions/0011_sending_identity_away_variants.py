"""sending: sender identities (users, organization default), seller away periods and the
organization's away policy, a connection's pause reason, activities delegated from an away
seller, the outbox's sender name, Reply-To and A/B variant, the event kind EMAIL_AUTO_REPLY
and the wait reasons SENDER_AWAY, CONNECTION_PAUSED and RETRYING

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 02:40:00
"""

from datetime import UTC, datetime

from alembic import op
import sqlalchemy as sa
import sekvens.storage.types

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

_KINDS = (
    "'EMAIL_DELIVERED', 'EMAIL_OPENED', 'EMAIL_REPLIED', 'LINK_CLICKED', "
    "'ATTACHMENT_DOWNLOADED', 'EMAIL_BOUNCED'"
)
_WAITS = "'WAITING_FOR_SEND_WINDOW', 'THROTTLED'"


def _check(table: str, column: str, values: str) -> None:
    with op.batch_alter_table(table) as batch_op:
        batch_op.drop_constraint(batch_op.f(f'ck_{table}_{column}'), type_='check')
        batch_op.create_check_constraint(column, f"{column} IN ({values})")


def _time() -> sekvens.storage.types.UTCDateTime:
    return sekvens.storage.types.UTCDateTime(timezone=True)


def _id() -> sa.types.TypeEngine:
    return sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    with op.batch_alter_table('organizations') as batch_op:
        batch_op.add_column(sa.Column('sender_name', sa.String(length=160), nullable=True))
        batch_op.add_column(sa.Column('sender_address', sa.String(length=254), nullable=True))
        batch_op.add_column(sa.Column('reply_to', sa.String(length=254), nullable=True))
        batch_op.add_column(sa.Column('signature', sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column(
                'away_policy', sa.String(length=16), server_default='DELEGATE', nullable=False
            )
        )
        batch_op.create_check_constraint('away_policy', "away_policy IN ('DELEGATE', 'HOLD')")
    with op.batch_alter_table('users') as batch_op:
        batch_op.add_column(sa.Column('sender_name', sa.String(length=160), nullable=True))
        batch_op.add_column(sa.Column('reply_to', sa.String(length=254), nullable=True))
        batch_op.add_column(sa.Column('signature', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('away_from', _time(), nullable=True))
        batch_op.add_column(sa.Column('away_until', _time(), nullable=True))
        batch_op.add_column(sa.Column('away_delegate_id', _id(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f('fk_users_away_delegate_id_users'),
            'users',
            ['away_delegate_id'],
            ['id'],
            ondelete='SET NULL',
        )
    with op.batch_alter_table('connections') as batch_op:
        batch_op.add_column(sa.Column('pause_reason', sa.String(length=16), nullable=True))
        batch_op.create_check_constraint('pause_reason', "pause_reason IN ('USER', 'AUTO_REPLY')")
    # Connections paused before this revision were paused by someone.
    op.execute("UPDATE connections SET pause_reason = 'USER' WHERE status = 'PAUSED'")
    with op.batch_alter_table('activities') as batch_op:
        batch_op.add_column(
            sa.Column('delegated_from_id', _id(), nullable=True)
        )
        batch_op.create_foreign_key(
            batch_op.f('fk_activities_delegated_from_id_users'),
            'users',
            ['delegated_from_id'],
            ['id'],
            ondelete='SET NULL',
        )
    with op.batch_alter_table('outbox') as batch_op:
        batch_op.add_column(sa.Column('from_name', sa.String(length=160), nullable=True))
        batch_op.add_column(sa.Column('reply_to', sa.String(length=254), nullable=True))
        batch_op.add_column(sa.Column('variant', sa.String(length=8), nullable=True))
    _check('outbox', 'wait_reason', f"{_WAITS}, 'SENDER_AWAY', 'CONNECTION_PAUSED', 'RETRYING'")
    # The queued emails of connections paused before this revision wait for the resume, as
    # a pause now makes them.
    op.execute(
        "UPDATE outbox SET wait_reason = 'CONNECTION_PAUSED', next_attempt_at ="
        " (SELECT c.resume_at FROM connections c WHERE c.id = outbox.connection_id)"
        " WHERE status = 'QUEUED' AND connection_id IN"
        " (SELECT id FROM connections WHERE status = 'PAUSED')"
    )
    _check('engagement_events', 'kind', f"{_KINDS}, 'EMAIL_AUTO_REPLY'")


def downgrade() -> None:
    # Under the old checks: an auto-reply is dropped (it never counted as a reply), and a
    # message waiting for its sender is simply due.
    op.execute("DELETE FROM engagement_events WHERE kind = 'EMAIL_AUTO_REPLY'")
    _check('engagement_events', 'kind', _KINDS)
    # One held for a resume with no time is due (the old code excluded a paused one's mail
    # by its connection), written as the column type writes times.
    outbox = sa.table('outbox', sa.column('wait_reason', sa.String), sa.column('next_attempt_at', _time()))
    op.execute(
        outbox.update()
        .where(outbox.c.wait_reason == 'CONNECTION_PAUSED', outbox.c.next_attempt_at.is_(None))
        .values(next_attempt_at=datetime.now(UTC))
    )
    op.execute(
        "UPDATE outbox SET wait_reason = NULL"
        " WHERE wait_reason IN ('SENDER_AWAY', 'CONNECTION_PAUSED', 'RETRYING')"
    )
    _check('outbox', 'wait_reason', _WAITS)
    with op.batch_alter_table('outbox') as batch_op:
        batch_op.drop_column('variant')
        batch_op.drop_column('reply_to')
        batch_op.drop_column('from_name')
    with op.batch_alter_table('activities') as batch_op:
        batch_op.drop_constraint(
            batch_op.f('fk_activities_delegated_from_id_users'), type_='foreignkey'
        )
        batch_op.drop_column('delegated_from_id')
    with op.batch_alter_table('connections') as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_connections_pause_reason'), type_='check')
        batch_op.drop_column('pause_reason')
    with op.batch_alter_table('users') as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_users_away_delegate_id_users'), type_='foreignkey')
        batch_op.drop_column('away_delegate_id')
        batch_op.drop_column('away_until')
        batch_op.drop_column('away_from')
        batch_op.drop_column('signature')
        batch_op.drop_column('reply_to')
        batch_op.drop_column('sender_name')
    with op.batch_alter_table('organizations') as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_organizations_away_policy'), type_='check')
        batch_op.drop_column('away_policy')
        batch_op.drop_column('signature')
        batch_op.drop_column('reply_to')
        batch_op.drop_column('sender_address')
        batch_op.drop_column('sender_name')
