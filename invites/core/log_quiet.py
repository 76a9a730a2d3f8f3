"""Periodic jobs log at INFO only when they did something: RQ's routine lines about them go
to DEBUG.

Every few seconds the scheduler enqueues the campaign tick and the worker runs it, and RQ
says so in five INFO lines; at idle that was ~85 lines a minute, and the demo key of
`make run` scrolled away. The jobs themselves log at INFO what they changed (the
reconciler's re-enqueued messages, the tick's started campaigns, expired invitations...),
so RQ's lines about them - enqueued, started, OK, result kept - and its registry clean-up
every ten minutes are demoted. A periodic job that fails is still logged as RQ logs it.
"""

from __future__ import annotations

import logging
import re
from collections import deque

from invites.core import periodic

#: The loggers RQ's scheduler and workers write to.
RQ_LOGGERS = ("rq.cron", "rq.worker")
_COLOUR = re.compile(r"\x1b\[[0-9;]*m")
#: RQ's maintenance of its registries, every ten minutes in each worker.
_MAINTENANCE = ("cleaning registries", "cleaning group registries")


class QuietPeriodic(logging.Filter):
    """Demotes RQ's INFO lines about periodic jobs to DEBUG (kept if DEBUG is on)."""

    def __init__(self) -> None:
        super().__init__()
        # Job ids of periodic jobs seen lately: RQ's later lines name a job by id only.
        self._periodic_ids: deque[str] = deque(maxlen=64)

    def filter(self, record: logging.LogRecord) -> bool:
        """Let the record through unless it is routine; routine ones only at DEBUG."""
        if record.levelno != logging.INFO or not self._routine(record):
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)

    def _routine(self, record: logging.LogRecord) -> bool:
        template = record.msg if isinstance(record.msg, str) else ""
        if record.name == "rq.cron":
            return template.startswith("Enqueued job ")  # every cron job is a periodic one
        if any(words in template for words in _MAINTENANCE):
            return True
        args = record.args if isinstance(record.args, tuple) else ()
        texts = [_COLOUR.sub("", a) for a in args if isinstance(a, str)]
        functions = [job.function + "(" for job in periodic.registered()]
        if any(text.startswith(function) for text in texts for function in functions):
            # "Worker W: queue: invites...campaign_tick() (JOB-ID)": remember the id.
            if template.rstrip().endswith("(%s)") and texts:
                self._periodic_ids.append(texts[-1])
            return True
        return any(text in self._periodic_ids for text in texts)


def install() -> None:
    """Put the filter on RQ's loggers (once per process)."""
    quiet = QuietPeriodic()
    for name in RQ_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, QuietPeriodic) for f in logger.filters):
            logger.addFilter(quiet)
