"""contact attributes, a campaign's segment, and saved segments

Revision ID: 0015
Revises: 0016
Create Date: 2026-12-07 14:40:00
"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0015'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'contact_attributes',
        sa.Column('contact_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('value', sa.String(length=200), nullable=False),
        sa.Column('number', sa.Float(), nullable=True),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('contact_id', 'name'),
    )
    op.create_index(
        'ix_contact_attributes_name_value', 'contact_attributes', ['name', 'value'], unique=False
    )
    op.create_table(
        'saved_segments',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=120), nullable=False),
        sa.Column('definition', sa.Text(), nullable=False),
        sa.Column('created_by', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('name'),
    )
    with op.batch_alter_table('campaigns') as batch:
        batch.add_column(sa.Column('segment', sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table('campaigns') as batch:
        batch.drop_column('segment')
    op.drop_table('saved_segments')
    op.drop_index('ix_contact_attributes_name_value', table_name='contact_attributes')
    op.drop_table('contact_attributes')
