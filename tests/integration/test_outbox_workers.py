"""The outbox sends each destination in its own worker: a webhook that takes 10 s delays nobody else; only
allowlisted webhook destinations are used, in a saved ladder and again when sending; redirects are refused."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import psycopg
import pytest

from monitor.alerts import escalation, outbox, store
from monitor.alerts.policy import PolicyError
from monitor.rules.kinds import AlertKind
from tests.integration.test_alerts import T0, cand, station_of
from tests.support import make_home, wait_until
from web.settings import Settings

pytestmark = [pytest.mark.db, pytest.mark.timeout(90)]
SLOW_S = 10.0


class _Endpoints(BaseHTTPRequestHandler):
    received: ClassVar[dict[str, float]] = {}  # path -> when it arrived (monotonic)

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).received[self.path] = time.monotonic()
        if self.path == "/slow":
            time.sleep(SLOW_S)
        if self.path == "/redirect":
            self.send_response(307)
            self.send_header("Location", "/fast")
            self.end_headers()
            return
        assert body
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_a: object) -> None:
        pass


@pytest.fixture
def endpoints() -> Iterator[str]:
    _Endpoints.received = {}
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Endpoints)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture
def alert_id(settings: Settings) -> Iterator[int]:
    """A committed alert (the workers record results on their own connections); its rows go afterwards."""
    with psycopg.connect(settings.db().conninfo()) as conn:
        home = make_home(conn, settings)
        ch = store.apply_candidate(
            conn, cand(home.home_id, AlertKind.SMOKE, T0), station_id=station_of(conn, home.home_id)
        )
        assert ch is not None
        conn.commit()
        yield ch.alert_id
        conn.execute("DELETE FROM notification WHERE alert_id = %s", (ch.alert_id,))
        conn.commit()


def _queue(settings: Settings, alert: int, rows: list[tuple[str, str]]) -> dict[str, int]:
    ids = {}
    with psycopg.connect(settings.db().conninfo(), autocommit=True) as conn:
        for channel, recipient in rows:
            row = conn.execute(
                "INSERT INTO notification (alert_id, step, target, channel, recipient, subject, body) "
                "VALUES (%s, 0, 'staff', %s, %s, '烟雾告警', 'body') RETURNING id",
                (alert, channel, recipient),
            ).fetchone()
            assert row is not None
            ids[recipient] = row[0]
    return ids


def _status(settings: Settings, ids: dict[str, int]) -> dict[str, tuple[str, str | None]]:
    with psycopg.connect(settings.db().conninfo(), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT id, status, last_error FROM notification WHERE id = ANY(%s)", (list(ids.values()),)
        ).fetchall()
    by_id = {r[0]: (r[1], r[2]) for r in rows}
    return {k: by_id[v] for k, v in ids.items()}


def test_a_slow_webhook_delays_no_other_destination(
    settings: Settings, endpoints: str, alert_id: int
) -> None:
    slow, fast = f"{endpoints}/slow", f"{endpoints}/fast"  # one host, two endpoints
    cfg = outbox.NotifySettings(sms_url=f"{endpoints}/sms", timeout_s=15, webhook_allowlist=(slow, fast))
    ids = _queue(settings, alert_id, [("webhook", slow), ("webhook", fast), ("sms", "13800000009")])
    dispatcher = outbox.Dispatcher(settings.db().conninfo(), cfg)
    started = time.monotonic()
    try:
        with psycopg.connect(settings.db().conninfo(), autocommit=True) as conn:
            dispatcher.pump(conn, now=datetime.now(UTC))

            def others_sent() -> bool:
                s = _status(settings, ids)
                return s[fast][0] == "sent" and s["13800000009"][0] == "sent"

            assert wait_until(others_sent, timeout=4.0, interval=0.05)
            elapsed = time.monotonic() - started
            assert elapsed < 4.0  # not behind the 10 s webhook
            assert _status(settings, ids)[slow][0] == "pending"  # still being sent
            assert "/slow" in _Endpoints.received  # it was started first, yet did not hold the others
            dispatcher.pump(conn, now=datetime.now(UTC))  # the slow row is in flight: not claimed again
        assert wait_until(lambda: _status(settings, ids)[slow][0] == "sent", timeout=SLOW_S + 5)
    finally:
        dispatcher.close(timeout=SLOW_S + 5)
    assert dispatcher.pending_in_workers() == 0


def test_webhook_destinations_come_from_the_allowlist(
    db: psycopg.Connection, settings: Settings, endpoints: str, alert_id: int
) -> None:
    allowed, other = f"{endpoints}/fast", "http://169.254.169.254/latest/meta-data/"
    home = make_home(db, settings)
    st = station_of(db, home.home_id)
    ladder = [{"after_min": 0, "target": "staff", "channels": ["webhook"], "recipients": [other]}]
    with pytest.raises(PolicyError, match="not an allowed notification destination"):
        escalation.save_policy(db, st, ladder, actor="staff:x", webhook_allowlist=(allowed,))
    db.rollback()
    ladder[0]["recipients"] = [allowed]
    escalation.save_policy(db, st, ladder, actor="staff:x", webhook_allowlist=(f"{endpoints}/",))
    db.rollback()

    # rows written before the allowlist changed (or by hand) are refused when sending, for good
    cfg = outbox.NotifySettings(webhook_allowlist=(allowed,), timeout_s=3)
    ids = _queue(settings, alert_id, [("webhook", other), ("webhook", f"{endpoints}/redirect")])
    dispatcher = outbox.Dispatcher(settings.db().conninfo(), cfg)
    try:
        with psycopg.connect(settings.db().conninfo(), autocommit=True) as conn:
            dispatcher.pump(conn, now=datetime.now(UTC))
        assert wait_until(lambda: _status(settings, ids)[other][0] == "failed", timeout=5)
        assert "not an allowed destination" in (_status(settings, ids)[other][1] or "")
        assert "/redirect" not in _Endpoints.received  # not on the allowlist either
    finally:
        dispatcher.close()


def test_redirects_are_not_followed(endpoints: str) -> None:
    cfg = outbox.NotifySettings(webhook_allowlist=(f"{endpoints}/redirect",), timeout_s=3)
    send = outbox.senders(cfg)["webhook"]
    with pytest.raises(Exception, match="307"):
        send(f"{endpoints}/redirect", "s", "b")
    assert "/fast" not in _Endpoints.received


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://hooks.example.com/a", True),
        ("https://hooks.example.com/a/b", False),  # an exact entry allows only itself
        ("https://ops.example.com/x/1", True),  # under an entry ending in /
        ("https://ops.example.com/x/../admin", False),
        ("https://ops.example.com.evil.test/x/1", False),
        ("https://user:pw@ops.example.com/x/1", False),
        ("ftp://ops.example.com/x/1", False),
        ("http://127.0.0.1/x/1", False),
    ],
)
def test_url_allowed(url: str, allowed: bool) -> None:
    assert outbox.url_allowed(url, ("https://hooks.example.com/a", "https://ops.example.com/x/")) is allowed
