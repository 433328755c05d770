"""job items: the items a record sync job takes from its caller, with each one's result

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05 05:40:00
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    op.create_table('job_items',
    sa.Column('id', _ID, nullable=False),
    sa.Column('job_id', _ID, nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('external_id', sa.String(length=200), nullable=True),
    sa.Column('input', _JSON, nullable=False),
    sa.Column('done', sa.Boolean(), nullable=False),
    sa.Column('record_id', _ID, nullable=True),
    sa.Column('created', sa.Boolean(), nullable=False),
    sa.Column('problems', _JSON, nullable=False),
    sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], name=op.f('fk_job_items_job_id_jobs'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['record_id'], ['records.id'], name=op.f('fk_job_items_record_id_records'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_job_items')),
    sa.UniqueConstraint('job_id', 'position', name=op.f('uq_job_items_job_id_position'))
    )
    op.create_index('ix_job_items_job_external', 'job_items', ['job_id', 'external_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_job_items_job_external', table_name='job_items')
    op.drop_table('job_items')
