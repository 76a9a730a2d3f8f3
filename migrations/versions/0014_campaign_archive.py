"""campaigns: archived_at, so finished campaigns can leave the console's default list

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 14:00:00
"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('campaigns') as batch:
        batch.add_column(sa.Column('archived_at', sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table('campaigns') as batch:
        batch.drop_column('archived_at')
