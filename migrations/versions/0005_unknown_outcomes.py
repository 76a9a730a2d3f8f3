"""unknown delivery outcomes: a per-run claim token and an invitation counter

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 18:30:00

A message handed to the mail server in full without a reply is recorded as "unknown" and never
retried. `outbound_messages.claim_token` lets a job whose claim's commit was lost with its
database connection recognise its own claim; `invitation_daily_stats.unknown` counts such
invitations apart from the ones known sent. Stale "sending" rows become "unknown" from now on
(they were "failed" before); rows already failed that way keep that status.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('outbound_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claim_token', sa.String(length=32), nullable=True))
    with op.batch_alter_table('invitation_daily_stats', schema=None) as batch_op:
        # A server default: the PostgreSQL invitation function inserts rows without it.
        batch_op.add_column(
            sa.Column('unknown', sa.Integer(), nullable=False, server_default='0')
        )


def downgrade():
    with op.batch_alter_table('invitation_daily_stats', schema=None) as batch_op:
        batch_op.drop_column('unknown')
    with op.batch_alter_table('outbound_messages', schema=None) as batch_op:
        batch_op.drop_column('claim_token')
