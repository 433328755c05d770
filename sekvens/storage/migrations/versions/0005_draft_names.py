"""draft revisions keep their own name and description

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 09:00:00
"""

from alembic import op
import sqlalchemy as sa

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sequence_versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("name", sa.String(length=160), nullable=True))
        batch_op.add_column(sa.Column("description", sa.Text(), nullable=True))
    # Every existing version takes its sequence's present name and description.
    op.execute(
        "UPDATE sequence_versions SET "
        "name = (SELECT s.name FROM sequences s WHERE s.id = sequence_versions.sequence_id), "
        "description = (SELECT s.description FROM sequences s "
        "WHERE s.id = sequence_versions.sequence_id)"
    )


def downgrade() -> None:
    with op.batch_alter_table("sequence_versions", schema=None) as batch_op:
        batch_op.drop_column("description")
        batch_op.drop_column("name")
