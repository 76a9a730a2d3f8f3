"""Health endpoints an operator's load balancer and orchestrator poll."""

from __future__ import annotations

import dataclasses

from flask import Flask

from invites.core.config import Settings

from ..support.helpers import OwnRedis, free_port, make_app


def test_healthz_answers_without_touching_anything(settings: Settings) -> None:
    # Nothing listens on either port: /healthz still answers, it is the process alone.
    dead = dataclasses.replace(
        settings,
        redis_url=f"redis://127.0.0.1:{free_port()}/0",
        database_url=f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/none",
    )
    resp = make_app(dead).test_client().get("/healthz")

    assert resp.status_code == 200 and resp.get_json() == {"status": "ok"}


def test_readyz_is_ok_when_both_answer(app: Flask) -> None:
    resp = app.test_client().get("/readyz")

    assert resp.status_code == 200
    assert resp.get_json() == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}


def test_readyz_is_503_when_redis_is_down(settings: Settings, own_redis: OwnRedis) -> None:
    port, procs = own_redis
    app = make_app(settings, redis_url=f"redis://127.0.0.1:{port}/0")
    client = app.test_client()
    assert client.get("/readyz").status_code == 200
    procs[0].terminate()
    procs[0].wait()

    resp = client.get("/readyz")

    assert resp.status_code == 503
    body = resp.get_json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"].startswith("error: ")


def test_readyz_is_503_when_the_database_is_unreachable(settings: Settings) -> None:
    gone = dataclasses.replace(
        settings, database_url=f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/none"
    )
    resp = make_app(gone).test_client().get("/readyz")

    assert resp.status_code == 503
    assert resp.get_json()["checks"]["database"] == "error: OperationalError"
    assert resp.get_json()["checks"]["redis"] == "ok"
