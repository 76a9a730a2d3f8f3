"""Privacy: the processing register that drives retention, and the archive of policy versions.

Below the other product areas: `accounts` reads policy versions for its eligibility rule, and
each area's retention job reads its period from the register. Nothing here knows HTTP.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Have the scheduler run every erasing job the processing register names."""
    from invites.core import periodic
    from invites.core.queue import MAIL_QUEUE
    from invites.privacy import models  # noqa: F401 - the tables, known to SQLAlchemy
    from invites.privacy.register import jobs

    for job, seconds in jobs().items():
        periodic.every(seconds, job, MAIL_QUEUE)
