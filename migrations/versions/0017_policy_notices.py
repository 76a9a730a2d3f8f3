"""campaigns: policy_version_id, the material policy version a campaign is the notice of

Revision ID: 0017
Revises: 0015
Create Date: 2026-12-07 16:45:00
"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0017'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade():
    # Unique: one notice campaign per version, however many admins press Publish at once.
    with op.batch_alter_table('campaigns') as batch:
        batch.add_column(sa.Column('policy_version_id', sa.Integer(), nullable=True))
        batch.create_unique_constraint('uq_campaigns_policy_version_id', ['policy_version_id'])
        batch.create_foreign_key(
            'fk_campaigns_policy_version_id_policy_versions',
            'policy_versions',
            ['policy_version_id'],
            ['id'],
        )


def downgrade():
    with op.batch_alter_table('campaigns') as batch:
        batch.drop_constraint('fk_campaigns_policy_version_id_policy_versions', type_='foreignkey')
        batch.drop_constraint('uq_campaigns_policy_version_id', type_='unique')
        batch.drop_column('policy_version_id')
