"""indexes for the console's home page: consent withdrawals and suppressions by date

Revision ID: 0016
Revises: 0014
Create Date: 2026-12-07 14:30:00
"""

from alembic import op


# revision identifiers, used by Alembic.
revision = '0016'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_consent_events_created', 'consent_events', ['created_at'])
    op.create_index('ix_suppressions_reason_created', 'suppressions', ['reason', 'created_at'])


def downgrade():
    op.drop_index('ix_suppressions_reason_created', table_name='suppressions')
    op.drop_index('ix_consent_events_created', table_name='consent_events')
