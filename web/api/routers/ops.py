"""Liveness, readiness and Prometheus metrics of an API process (outside ``/api``, like the other processes)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest

from devices.errors import NotFoundError
from web.api.deps import Conn, client_ip

router = APIRouter(tags=["operations"])

OPEN_ALERTS = """
SELECT severity, CASE WHEN age < interval '5 minutes' THEN 'lt5m' WHEN age < interval '15 minutes' THEN '5to15m'
                      WHEN age < interval '1 hour' THEN '15to60m' ELSE 'gt1h' END AS bucket, count(*)
FROM (SELECT severity, now() - raised_at AS age FROM alert WHERE status <> 'resolved') a GROUP BY 1, 2
"""


@router.get("/healthz", include_in_schema=False)
def healthz() -> Response:
    return Response("ok\n", media_type="text/plain")


@router.get("/readyz", include_in_schema=False)
def readyz(request: Request, conn: Conn) -> Response:
    """200 when the database answers and the live feed listens; 503 with the reason otherwise."""
    conn.execute("SELECT 1")
    if not request.app.state.hub.ready.is_set():
        return Response("live feed not listening yet\n", status_code=503, media_type="text/plain")
    return Response("ready\n", media_type="text/plain")


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request, conn: Conn) -> Response:
    """Open alerts by severity and age, urgent tasks waiting for the planner, live subscribers (loopback only:
    a scraper runs next to the process)."""
    if client_ip(request) not in ("127.0.0.1", "::1", "testclient"):
        raise NotFoundError("not found")
    registry = CollectorRegistry()
    alerts = Gauge("eldercare_open_alerts", "unresolved alerts by severity and age", ["severity", "age"],
                   registry=registry)  # fmt: skip
    for severity, bucket, n in conn.execute(OPEN_ALERTS).fetchall():
        alerts.labels(severity, bucket).set(n)
    waiting = conn.execute("SELECT count(*) FROM task WHERE urgent AND status = 'pending'").fetchone()
    Gauge("eldercare_urgent_tasks_pending", "urgent tasks not in a plan", registry=registry).set(
        waiting[0] if waiting else 0
    )
    Gauge("eldercare_live_subscribers", "websocket clients of this process", registry=registry).set(
        len(request.app.state.hub.subscribers)
    )
    Gauge("eldercare_live_failed_events", "live events that raised while dispatched (logged, skipped)",
          registry=registry).set(request.app.state.hub.failed_events)  # fmt: skip
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
