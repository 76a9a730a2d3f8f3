"""data requests: request records, pending address changes, the privacy staff role

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 14:00:00

`data_requests` keeps, per request to see, correct or erase one's data, the keyed hash of the
address, where it came from, its state and dates (never the address). `address_changes` holds
a new address asked for on the data page until the link sent to it confirms it. Staff users
may have the new `privacy` role.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('data_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('public_id', sa.String(length=32), nullable=False),
    sa.Column('email_hash', sa.String(length=64), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('staff_user_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('locale', sa.String(length=8), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('opened_at', sa.DateTime(), nullable=True),
    sa.Column('closed_at', sa.DateTime(), nullable=True),
    sa.Column('actions', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_data_requests')),
    sa.UniqueConstraint('public_id', name=op.f('uq_data_requests_public_id'))
    )
    with op.batch_alter_table('data_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_data_requests_email_hash'), ['email_hash'], unique=False)
        batch_op.create_index('ix_data_requests_status_created', ['status', 'created_at'], unique=False)

    op.create_table('address_changes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('public_id', sa.String(length=32), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=False),
    sa.Column('new_email', sa.String(length=320), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_address_changes_contact_id_contacts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_address_changes')),
    sa.UniqueConstraint('public_id', name=op.f('uq_address_changes_public_id'))
    )
    with op.batch_alter_table('address_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_address_changes_contact_id'), ['contact_id'], unique=False)

    with op.batch_alter_table('staff_users', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_staff_users_role'), type_='check')
        batch_op.create_check_constraint(
            op.f('ck_staff_users_role'), "role IN ('marketing', 'admin', 'privacy')"
        )


def downgrade():
    with op.batch_alter_table('staff_users', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_staff_users_role'), type_='check')
        batch_op.create_check_constraint(
            op.f('ck_staff_users_role'), "role IN ('marketing', 'admin')"
        )

    with op.batch_alter_table('address_changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_address_changes_contact_id'))

    op.drop_table('address_changes')
    with op.batch_alter_table('data_requests', schema=None) as batch_op:
        batch_op.drop_index('ix_data_requests_status_created')
        batch_op.drop_index(batch_op.f('ix_data_requests_email_hash'))

    op.drop_table('data_requests')
