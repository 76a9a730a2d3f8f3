"""outbox wake-ups, and invitations that commit without waiting for the disk

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 22:50:00

Invitations and service messages now write a wake-up row with their outbox row, in the same
transaction; the relay (invites/relay.py) deletes wake-ups in batches and enqueues their jobs.
Rows pending before this revision have no wake-up: their jobs were enqueued already, or the
reconciler enqueues them.

On PostgreSQL the invitation function writes the wake-up too, and takes one more argument:
whether its transaction waits for the WAL flush (INVITATION_SYNCHRONOUS_COMMIT).
"""
import importlib.util
from pathlib import Path

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

SIGNATURE_0003 = (
    'spotcam_create_invitation('
    'text, text, text, text, text, text, text, timestamp, integer, integer, date, timestamp)'
)
SIGNATURE = SIGNATURE_0003.replace('timestamp)', 'timestamp, boolean)')

# Revision 0003's function, plus the wake-up row and the choice of commit.
FUNCTION = """
CREATE OR REPLACE FUNCTION spotcam_create_invitation(
    p_inviter_id text, p_inviter_name text, p_note text, p_email text, p_email_hash text,
    p_locale text, p_public_id text, p_now timestamp, p_per_day integer, p_per_month integer,
    p_first_day date, p_window_cutoff timestamp, p_synchronous_commit boolean,
    OUT outcome text, OUT message_id integer)
LANGUAGE plpgsql AS $$
DECLARE
    v_invitation_id integer;
BEGIN
    -- Unless told to wait, this transaction's commit doesn't wait for its WAL to reach the
    -- disk. No email goes out before the invitation is durable: the job's claim commits
    -- synchronously, and WAL is flushed in order. A crash may lose the last moments'
    -- invitations; it can't make one be sent twice, or sent without its record.
    IF NOT p_synchronous_commit THEN
        PERFORM set_config('synchronous_commit', 'off', true);
    END IF;
    -- Count the request unless the inviter is at today's limit. The upsert locks today's row,
    -- so concurrent requests of one inviter queue here and the monthly sum below is exact.
    INSERT INTO inviter_daily_counts AS c (inviter_id, day, requested, sent, accepted)
    VALUES (p_inviter_id, p_now::date, 1, 0, 0)
    ON CONFLICT (inviter_id, day) DO UPDATE SET requested = c.requested + 1
        WHERE c.requested < p_per_day;
    IF NOT FOUND THEN
        outcome := 'per_day';
        RETURN;
    END IF;
    IF (SELECT sum(requested) FROM inviter_daily_counts
        WHERE inviter_id = p_inviter_id AND day >= p_first_day) > p_per_month THEN
        -- A refused request is not counted (the Python path rolls back instead).
        UPDATE inviter_daily_counts SET requested = requested - 1
        WHERE inviter_id = p_inviter_id AND day = p_now::date;
        outcome := 'per_month';
        RETURN;
    END IF;
    -- Held back: suppressed, already a SpotCam account, or invited within the window.
    IF EXISTS (SELECT 1 FROM suppressions WHERE email_hash = p_email_hash)
        OR EXISTS (SELECT 1 FROM invitations
                   WHERE email_hash = p_email_hash AND status = 'accepted')
        OR EXISTS (SELECT 1 FROM contacts WHERE email_hash = p_email_hash)
    THEN
        outcome := 'held';
    ELSE
        INSERT INTO address_throttle AS t (email_hash, invited_at) VALUES (p_email_hash, p_now)
        ON CONFLICT (email_hash) DO UPDATE SET invited_at = excluded.invited_at
            WHERE t.invited_at < p_window_cutoff;
        IF NOT FOUND THEN
            outcome := 'held';
        END IF;
    END IF;
    IF outcome = 'held' THEN
        INSERT INTO invitation_daily_stats AS s
            (day, sent, accepted, removed, expired, bounced, suppressed)
        VALUES (p_now::date, 0, 0, 0, 0, 0, 1)
        ON CONFLICT (day) DO UPDATE SET suppressed = s.suppressed + 1;
        RETURN;
    END IF;
    INSERT INTO invitations
        (public_id, email, email_hash, inviter_id, inviter_name, note, locale, status, created_at)
    VALUES (p_public_id, p_email, p_email_hash, p_inviter_id, p_inviter_name, p_note, p_locale,
            'pending', p_now)
    RETURNING id INTO v_invitation_id;
    INSERT INTO outbound_messages
        (kind, invitation_id, status, attempts, created_at, next_attempt_at)
    VALUES ('invitation', v_invitation_id, 'pending', 0, p_now, p_now)
    RETURNING id INTO message_id;
    -- The relay enqueues its job, so the request never waits on Redis.
    INSERT INTO outbox_wakeups (message_id) VALUES (message_id);
    outcome := 'queued';
END
$$
"""


def _function_of_0003() -> str:
    path = Path(__file__).with_name('0003_create_invitation_function.py')
    spec = importlib.util.spec_from_file_location('migration_0003', path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.FUNCTION


def upgrade():
    op.create_table('outbox_wakeups',
    sa.Column('message_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.PrimaryKeyConstraint('message_id', name=op.f('pk_outbox_wakeups'))
    )
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(f'DROP FUNCTION {SIGNATURE_0003}')
        op.execute(FUNCTION)


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(f'DROP FUNCTION {SIGNATURE}')
        op.execute(_function_of_0003())
    op.drop_table('outbox_wakeups')
