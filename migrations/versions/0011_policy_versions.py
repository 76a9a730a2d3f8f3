"""policy versions: the archive of the privacy policy; consent choices name their version

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 11:00:00

`policy_versions` and `policy_texts` hold every version of the privacy policy (drafts, then
published versions that never change). The upgrade records the version `PRIVACY_POLICY_VERSION`
names as in force from today, with a placeholder text that says it predates the archive, so
consent records made before the archive have a version to point at (an admin may record its
real text once, in the console). `preferences.policy_version` is the version each current
choice was made under, filled from the latest consent event of each choice.
"""
from datetime import UTC, datetime

from alembic import op
import sqlalchemy as sa
from flask import current_app

from invites.privacy import initial


# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('policy_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('label', sa.String(length=64), nullable=False),
    sa.Column('effective_on', sa.Date(), nullable=False),
    sa.Column('material', sa.Boolean(), nullable=False),
    sa.Column('changes_partner_sharing', sa.Boolean(), nullable=False),
    sa.Column('notice_on', sa.Date(), nullable=True),
    sa.Column('placeholder', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('published_at', sa.DateTime(), nullable=True),
    sa.Column('published_by', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_policy_versions')),
    sa.UniqueConstraint('effective_on', name=op.f('uq_policy_versions_effective_on')),
    sa.UniqueConstraint('label', name=op.f('uq_policy_versions_label'))
    )
    op.create_table('policy_texts',
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('locale', sa.String(length=8), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['version_id'], ['policy_versions.id'], name=op.f('fk_policy_texts_version_id_policy_versions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('version_id', 'locale', name=op.f('pk_policy_texts'))
    )
    with op.batch_alter_table('preferences', schema=None) as batch_op:
        batch_op.add_column(sa.Column('policy_version', sa.String(length=64), nullable=True))

    # Each current choice was made under the version its latest consent event recorded.
    op.execute(
        "UPDATE preferences SET policy_version = ("
        " SELECT ce.policy_version FROM consent_events ce"
        " WHERE ce.contact_id = preferences.contact_id AND ce.category = preferences.category"
        " ORDER BY ce.id DESC LIMIT 1)"
    )
    now = datetime.now(UTC).replace(tzinfo=None)
    label = current_app.config["SETTINGS"].privacy_policy_version
    initial.record(op.get_bind(), label, now.date(), now)


def downgrade():
    with op.batch_alter_table('preferences', schema=None) as batch_op:
        batch_op.drop_column('policy_version')

    op.drop_table('policy_texts')
    op.drop_table('policy_versions')
