"""`/metrics`: the service in Prometheus's text format, for an allowed scraper only.

Counters and request latency come from every process's files (invites/core/metrics.py); queue
depth and campaign progress are read here at scrape time, from Redis and the campaign counts,
so they are right even when no process has recorded anything yet.

Who may read it: a request straight from a METRICS_ALLOW network (loopback by default) that
no proxy relayed, or one with `Authorization: Bearer METRICS_TOKEN`. The numbers carry no
address or name, but queue depth and campaign sizes are the business's own.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
from collections.abc import Iterator

import redis
from flask import Blueprint, Flask, Response, current_app, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from invites.campaigns import progress
from invites.campaigns.models import Campaign, CampaignStatus
from invites.core import metrics, queue
from invites.core.db import db
from invites.core.errors import problem_response

log = logging.getLogger(__name__)

bp = Blueprint("metrics", __name__)

#: Headers a reverse proxy adds: a relayed request is not a local scraper, whatever its peer.
_PROXY_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Real-IP")
#: Campaigns whose progress is reported: those under way.
_UNDER_WAY = (CampaignStatus.SENDING, CampaignStatus.PAUSED)


class ServiceState:
    """What is read at scrape time: RQ queue depth, and progress of campaigns under way."""

    def collect(self) -> Iterator[Metric]:
        """Read Redis and the database once each; a source that is down reads as `up` 0."""
        up = GaugeMetricFamily(
            "spotcam_metrics_source_up",
            "Whether a scrape-time source answered (redis: queue depth, database: campaigns)",
            labels=["source"],
        )
        jobs = self._queues()
        up.add_metric(["redis"], 0 if jobs is None else 1)
        if jobs is not None:
            yield jobs
        campaigns = self._campaigns()
        up.add_metric(["database"], 0 if campaigns is None else 1)
        if campaigns is not None:
            yield campaigns
        yield up

    @staticmethod
    def _queues() -> GaugeMetricFamily | None:
        family = GaugeMetricFamily(
            "spotcam_queue_jobs",
            "RQ jobs per queue: queued (waiting), started, scheduled (retries), deferred, failed",
            labels=["queue", "state"],
        )
        rows: list[tuple[str, str]] = []
        try:
            with queue.connection().pipeline(transaction=False) as pipe:
                for name in queue.QUEUES:
                    q = queue.queue(name)
                    pipe.llen(q.key)
                    rows.append((name, "queued"))
                    # The registries' sizes as they stand: RQ's `count` would clean them up
                    # first, and a GET changes nothing.
                    for state, registry in (
                        ("started", q.started_job_registry),
                        ("scheduled", q.scheduled_job_registry),
                        ("deferred", q.deferred_job_registry),
                        ("failed", q.failed_job_registry),
                    ):
                        pipe.zcard(registry.key)
                        rows.append((name, state))
                counts = pipe.execute()
        except redis.RedisError as exc:
            log.warning("metrics: queue depth not read: %s", type(exc).__name__)
            return None
        for (name, state), count in zip(rows, counts, strict=True):
            family.add_metric([name, state], int(count))
        return family

    @staticmethod
    def _campaigns() -> GaugeMetricFamily | None:
        family = GaugeMetricFamily(
            "spotcam_campaign_messages",
            "Ledger rows of each campaign sending or paused, by status (queued ... sent)",
            labels=["campaign", "status"],
        )
        try:
            ids = db.session.scalars(
                select(Campaign.id).where(Campaign.status.in_(_UNDER_WAY)).order_by(Campaign.id)
            ).all()
            for campaign_id in ids:
                for status, count in progress.counts(db.session, campaign_id).items():
                    family.add_metric([str(campaign_id), status], count)
        except SQLAlchemyError as exc:
            log.warning("metrics: campaign progress not read: %s", type(exc).__name__)
            db.session.rollback()
            return None
        return family


def _from_allowed_network() -> bool:
    if any(name in request.headers for name in _PROXY_HEADERS):
        return False
    try:
        peer = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        return False
    allowed = current_app.config["SETTINGS"].metrics_allow
    return any(peer in ipaddress.ip_network(net, strict=False) for net in allowed)


def _has_token() -> bool:
    token: str = current_app.config["SETTINGS"].metrics_token
    given = request.headers.get("Authorization", "")
    scheme, _, value = given.partition(" ")
    return bool(token) and scheme.lower() == "bearer" and hmac.compare_digest(value, token)


def _refusal() -> Response | None:
    if _has_token() or _from_allowed_network():
        return None
    if current_app.config["SETTINGS"].metrics_token:
        return problem_response(
            401,
            "Unauthorized",
            "Send the metrics token as Authorization: Bearer, or scrape from METRICS_ALLOW.",
            slug="metrics-unauthorized",
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    return problem_response(
        403,
        "Forbidden",
        "Metrics are served to METRICS_ALLOW networks, without a proxy between, or to a "
        "scraper with METRICS_TOKEN.",
        slug="metrics-forbidden",
    )


@bp.get("/metrics")
def scrape() -> Response:
    """Answer a Prometheus scrape: every process's counters, queue depth, campaign progress."""
    refusal = _refusal()
    if refusal is not None:
        return refusal
    state = CollectorRegistry()
    state.register(ServiceState())
    # Two expositions, one after the other: no metric name is in both.
    body = metrics.exposition() + generate_latest(state)
    return Response(body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def init_app(app: Flask) -> None:
    """Register /metrics."""
    app.register_blueprint(bp)
