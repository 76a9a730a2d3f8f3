"""PostgreSQL: create an invitation in one statement (limits, checks, window, both rows)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 21:40:00

The API's hot path on PostgreSQL calls this function instead of running five statements between
BEGIN and COMMIT: one round trip instead of seven. It does exactly what the portable Python path
in invites/invitations.py does on SQLite; the same tests run on both databases in CI. Any
migration that adds a NOT NULL column to a table written here must replace the function too.
"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

FUNCTION = """
CREATE OR REPLACE FUNCTION spotcam_create_invitation(
    p_inviter_id text, p_inviter_name text, p_note text, p_email text, p_email_hash text,
    p_locale text, p_public_id text, p_now timestamp, p_per_day integer, p_per_month integer,
    p_first_day date, p_window_cutoff timestamp,
    OUT outcome text, OUT message_id integer)
LANGUAGE plpgsql AS $$
DECLARE
    v_invitation_id integer;
BEGIN
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
    outcome := 'queued';
END
$$
"""


def upgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(FUNCTION)


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(
            'DROP FUNCTION IF EXISTS spotcam_create_invitation('
            'text, text, text, text, text, text, text, timestamp, integer, integer, date, timestamp)'
        )
