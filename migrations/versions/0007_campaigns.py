"""campaigns: content, batches, the delivery ledger, attributed counts; contacts' time zones

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 19:00:00

The ledger (`campaign_deliveries`) is unique per campaign and contact: a retried job, a second
worker or a resume can never send anyone a second copy. Erasing a contact keeps its ledger
rows without the contact (SET NULL), so a campaign's aggregate results don't change.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('time_zone', sa.String(length=64), nullable=True))

    op.create_table('campaigns',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('category', sa.String(length=32), nullable=False),
    sa.Column('partner_name', sa.String(length=120), nullable=True),
    sa.Column('locale', sa.String(length=8), nullable=True),
    sa.Column('sender', sa.String(length=400), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('approved_version', sa.Integer(), nullable=True),
    sa.Column('approved_by', sa.Integer(), nullable=True),
    sa.Column('approved_at', sa.DateTime(), nullable=True),
    sa.Column('anchor', sa.String(length=16), nullable=False),
    sa.Column('scheduled_at', sa.DateTime(), nullable=True),
    sa.Column('local_date', sa.Date(), nullable=True),
    sa.Column('local_time', sa.String(length=5), nullable=True),
    sa.Column('default_zone', sa.String(length=64), nullable=False),
    sa.Column('rate_per_second', sa.Integer(), nullable=True),
    sa.Column('paused_reason', sa.Text(), nullable=True),
    sa.Column('audience_at_start', sa.Integer(), nullable=True),
    sa.Column('planning_done', sa.Boolean(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('edited_by', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=True),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaigns'))
    )
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.create_index('ix_campaigns_status', ['status'], unique=False)

    op.create_table('campaign_contents',
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('locale', sa.String(length=8), nullable=False),
    sa.Column('subject', sa.Text(), nullable=False),
    sa.Column('preheader', sa.Text(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('body_format', sa.String(length=16), nullable=False),
    sa.Column('text', sa.Text(), nullable=True),
    sa.Column('compiled', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_campaign_contents_campaign_id_campaigns'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('campaign_id', 'locale', name=op.f('pk_campaign_contents'))
    )
    op.create_table('campaign_batches',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('first_contact_id', sa.Integer(), nullable=False),
    sa.Column('last_contact_id', sa.Integer(), nullable=False),
    sa.Column('planned', sa.Integer(), nullable=False),
    sa.Column('due_at', sa.DateTime(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('lease_token', sa.String(length=32), nullable=True),
    sa.Column('leased_until', sa.DateTime(), nullable=True),
    sa.Column('enqueued_at', sa.DateTime(), nullable=True),
    sa.Column('runs', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_campaign_batches_campaign_id_campaigns'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaign_batches'))
    )
    with op.batch_alter_table('campaign_batches', schema=None) as batch_op:
        batch_op.create_index('ix_campaign_batches_campaign_status', ['campaign_id', 'status'], unique=False)

    op.create_table('campaign_deliveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=True),
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('sent_at', sa.DateTime(), nullable=True),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['campaign_batches.id'], name=op.f('fk_campaign_deliveries_batch_id_campaign_batches'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_campaign_deliveries_campaign_id_campaigns'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_campaign_deliveries_contact_id_contacts'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaign_deliveries')),
    sa.UniqueConstraint('campaign_id', 'contact_id', name='uq_campaign_deliveries_contact')
    )
    with op.batch_alter_table('campaign_deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_campaign_deliveries_batch_status', ['batch_id', 'status'], unique=False)
        batch_op.create_index('ix_campaign_deliveries_campaign_status', ['campaign_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_campaign_deliveries_contact_id'), ['contact_id'], unique=False)

    op.create_table('campaign_counts',
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_campaign_counts_campaign_id_campaigns'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('campaign_id', 'name', name=op.f('pk_campaign_counts'))
    )


def downgrade():
    op.drop_table('campaign_counts')
    op.drop_table('campaign_deliveries')
    op.drop_table('campaign_batches')
    op.drop_table('campaign_contents')
    op.drop_table('campaigns')
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.drop_column('time_zone')
