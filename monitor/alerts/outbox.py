"""The notification outbox: pending rows are sent through pluggable channels, retried with backoff, then failed.

Channels: ``log`` (the process log; the dashboard shows alerts live anyway), ``webhook`` (JSON POST to the
recipient URL or the configured one), ``sms`` (JSON POST ``{"to", "text"}`` to an SMS-gateway HTTP API) and
``email`` (SMTP). A channel that is not configured fails its rows with that reason, visibly.

Destinations are the deployment's, not the ladder editor's: a webhook URL must be the configured one or on
``webhook_allowlist`` (checked when a ladder is saved and again before sending; redirects are not followed),
so staff cannot point the rules host at an internal address. The rules process sends through a
``Dispatcher``: one worker thread per destination (the SMS gateway, the SMTP host, each webhook URL, the
log), each with its own connection and timeouts, so one slow endpoint delays only its own rows.
"""

from __future__ import annotations

import json
import logging
import queue
import smtplib
import threading
import urllib.request
from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

import psycopg
from psycopg.rows import dict_row
from pydantic import BaseModel, Field

log = logging.getLogger("eldercare.notify")

MAX_ATTEMPTS = 5
MAX_LANES = 64  # worker threads per process (one per destination)
Sender = Callable[[str, str, str], None]  # (recipient, subject, body); raises on failure


class NotifySettings(BaseModel):
    webhook_url: str | None = None
    sms_url: str | None = None
    smtp_host: str | None = None
    smtp_port: int = Field(default=25, ge=1, le=65535)
    email_from: str = "eldercare@localhost"
    timeout_s: float = Field(default=5.0, gt=0, le=120)
    webhook_allowlist: tuple[str, ...] = ()


class ChannelNotConfigured(RuntimeError):
    pass


def is_url(recipient: str) -> bool:
    return recipient.lower().startswith(("http://", "https://"))


def url_allowed(url: str, allowlist: Collection[str]) -> bool:
    """True when ``url`` is an allowlist entry, or lies under an entry that ends with ``/`` (same origin)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
        return False
    for entry in allowlist:
        if url == entry or (entry.endswith("/") and url.startswith(entry) and ".." not in url[len(entry) :]):
            return True
    return False


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *_args: Any, **_kw: Any) -> None:
        return None  # a 3xx is a failure: an allowed host must not bounce us to another one


_OPENER = urllib.request.build_opener(_NoRedirect)


def _post_json(url: str, payload: dict[str, Any], timeout: float) -> None:
    req = urllib.request.Request(
        url,
        data=json.dumps(payload, ensure_ascii=False).encode(),
        headers={"Content-Type": "application/json"},
    )
    with _OPENER.open(req, timeout=timeout) as resp:
        if resp.status >= 300:
            raise RuntimeError(f"HTTP {resp.status}")


def senders(cfg: NotifySettings) -> dict[str, Sender]:
    """The channel senders for these settings."""

    def send_log(recipient: str, subject: str, body: str) -> None:
        log.warning("notify %s: %s | %s", recipient, subject, body.replace("\n", " / "))

    def send_webhook(recipient: str, subject: str, body: str) -> None:
        url = recipient if is_url(recipient) else cfg.webhook_url
        if not url:
            raise ChannelNotConfigured("no webhook URL configured (ELDERCARE_NOTIFY_WEBHOOK_URL)")
        if url != cfg.webhook_url and not url_allowed(url, cfg.webhook_allowlist):
            raise ChannelNotConfigured(
                f"{url[:80]} is not an allowed destination (ELDERCARE_NOTIFY_WEBHOOK_ALLOWLIST)"
            )
        _post_json(url, {"recipient": recipient, "subject": subject, "body": body}, cfg.timeout_s)

    def send_sms(recipient: str, subject: str, body: str) -> None:
        if not cfg.sms_url:
            raise ChannelNotConfigured("no SMS gateway configured (ELDERCARE_NOTIFY_SMS_URL)")
        _post_json(cfg.sms_url, {"to": recipient, "text": f"{subject}\n{body}"[:480]}, cfg.timeout_s)

    def send_email(recipient: str, subject: str, body: str) -> None:
        if not cfg.smtp_host:
            raise ChannelNotConfigured("no SMTP host configured (ELDERCARE_NOTIFY_SMTP_HOST)")
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = cfg.email_from, recipient, subject
        msg.set_content(body)
        with smtplib.SMTP(cfg.smtp_host, cfg.smtp_port, timeout=cfg.timeout_s) as smtp:
            smtp.send_message(msg)

    return {"log": send_log, "webhook": send_webhook, "sms": send_sms, "email": send_email}


def backoff(attempts: int) -> timedelta:
    """Wait before retry number ``attempts`` (10 s, 20 s, 40 s … capped at 10 min)."""
    return timedelta(seconds=min(600, 10 * 2 ** max(0, attempts - 1)))


def _attempt(channels: Mapping[str, Sender], row: Mapping[str, Any]) -> Exception | None:
    """Send one row; the exception when it failed."""
    try:
        sender = channels.get(row["channel"])
        if sender is None:
            raise ChannelNotConfigured(f"unknown channel {row['channel']!r}")
        sender(row["recipient"], row["subject"], row["body"])
    except Exception as exc:
        return exc
    return None


def _record(
    conn: psycopg.Connection[Any], row: Mapping[str, Any], exc: Exception | None, now: datetime
) -> None:
    """Write the outcome of one attempt: sent, pending again after a backoff, or failed for good."""
    if exc is None:
        conn.execute(
            "UPDATE notification SET status = 'sent', attempts = %s, sent_at = clock_timestamp(), "
            "last_error = NULL WHERE id = %s AND status = 'pending'",
            (row["attempts"] + 1, row["id"]),
        )
        return
    attempts = row["attempts"] + 1
    final = attempts >= MAX_ATTEMPTS or isinstance(exc, ChannelNotConfigured)
    log.warning("notification %s via %s failed (%s): %s", row["id"], row["channel"], attempts, exc)
    conn.execute(
        "UPDATE notification SET attempts = %s, last_error = %s, status = %s, next_attempt_at = %s "
        "WHERE id = %s AND status = 'pending'",
        (attempts, str(exc)[:500], "failed" if final else "pending", now + backoff(attempts), row["id"]),
    )


def deliver_pending(
    conn: psycopg.Connection, channels: Mapping[str, Sender], *, now: datetime, limit: int = 100
) -> tuple[int, int]:
    """Send due pending notifications one after another, one transaction per row; returns (sent, failed).

    The synchronous form (CLI, tests); the rules process uses ``Dispatcher`` so endpoints do not wait
    for each other.
    """
    sent = failed = 0
    for _ in range(limit):
        with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
            row = cur.execute(
                "SELECT * FROM notification WHERE status = 'pending' AND next_attempt_at <= %s "
                "ORDER BY next_attempt_at LIMIT 1 FOR UPDATE SKIP LOCKED",
                (now,),
            ).fetchone()
            if row is None:
                break
            exc = _attempt(channels, row)
            _record(conn, row, exc, now)
            sent, failed = sent + (exc is None), failed + (exc is not None)
    return sent, failed


def lane_of(row: Mapping[str, Any], cfg: NotifySettings) -> str:
    """The worker a row is sent by: one per destination (each webhook URL, the SMS gateway, SMTP, log)."""
    channel = str(row["channel"])
    if channel == "webhook":
        url = urlsplit(row["recipient"] if is_url(row["recipient"]) else (cfg.webhook_url or ""))
        return f"webhook:{url.netloc.lower()}{url.path}"
    return channel


class _Lane:
    """One destination's worker: its own queue, thread, database connection and timeouts."""

    def __init__(self, name: str, owner: Dispatcher) -> None:
        self.name = name
        self.owner = owner
        self.queue: queue.Queue[dict[str, Any] | None] = queue.Queue(maxsize=owner.lane_depth)
        self._conn: psycopg.Connection[Any] | None = None
        self.thread = threading.Thread(target=self._run, name=f"notify-{name}"[:40], daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while (row := self.queue.get()) is not None:
            exc = _attempt(self.owner.channels, row)
            try:
                self._save(row, exc)
            except psycopg.Error as err:  # the lease runs out and the row is tried again
                log.warning("outbox %s: could not record notification %s: %s", self.name, row["id"], err)
                self._close()
            self.owner.done(row["id"], exc is None)
        self._close()

    def _save(self, row: dict[str, Any], exc: Exception | None) -> None:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.owner.conninfo, autocommit=True, connect_timeout=3)
        _record(self._conn, row, exc, datetime.now(UTC))

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class Dispatcher:
    """Sends the outbox with one worker per destination.

    ``pump`` claims due rows (a lease on ``next_attempt_at`` keeps other rules processes off them) and
    hands each to its destination's worker; a worker whose queue is full gets its rows back to the table
    for a later round. Results are recorded by the workers as they come.
    """

    def __init__(
        self,
        conninfo: str,
        cfg: NotifySettings,
        *,
        channels: Mapping[str, Sender] | None = None,
        lane_depth: int = 20,
    ) -> None:
        self.conninfo = conninfo
        self.cfg = cfg
        self.channels = dict(channels) if channels is not None else senders(cfg)
        self.lane_depth = lane_depth
        # long enough for a full queue of timeouts, so a busy worker's rows are not claimed twice
        self.lease = timedelta(seconds=max(300.0, 3 * lane_depth * cfg.timeout_s))
        self._lanes: dict[str, _Lane] = {}
        self._lock = threading.Lock()
        self._in_flight: set[int] = set()
        self._sent = self._failed = 0

    def done(self, row_id: int, ok: bool) -> None:
        with self._lock:
            self._in_flight.discard(row_id)
            if ok:
                self._sent += 1
            else:
                self._failed += 1

    def take_counts(self) -> tuple[int, int]:
        """(sent, failed) since the last call."""
        with self._lock:
            counts = (self._sent, self._failed)
            self._sent = self._failed = 0
        return counts

    def pump(self, conn: psycopg.Connection[Any], *, now: datetime, limit: int = 200) -> tuple[int, int]:
        """Hand due rows to their workers; returns (sent, failed) completed since the last call."""
        with self._lock:
            busy = list(self._in_flight)
        with conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(
                "UPDATE notification n SET next_attempt_at = %s FROM (SELECT id FROM notification "
                "WHERE status = 'pending' AND next_attempt_at <= %s AND id <> ALL(%s) ORDER BY next_attempt_at "
                "LIMIT %s FOR UPDATE SKIP LOCKED) due WHERE n.id = due.id RETURNING n.*",
                (now + self.lease, now, busy, limit),
            ).fetchall()
        if not conn.autocommit:
            conn.commit()
        released = []
        for row in sorted(rows, key=lambda r: r["id"]):
            name = lane_of(row, self.cfg)
            if name not in self._lanes and len(self._lanes) >= MAX_LANES:
                name = f"{row['channel']}:shared"  # bounded threads; allowlisted destinations are few
            lane = self._lanes.get(name) or self._lanes.setdefault(name, _Lane(name, self))
            with self._lock:
                self._in_flight.add(row["id"])
            try:
                lane.queue.put_nowait(row)
            except queue.Full:
                with self._lock:
                    self._in_flight.discard(row["id"])
                released.append(row["id"])
        if released:
            conn.execute(
                "UPDATE notification SET next_attempt_at = %s WHERE id = ANY(%s) AND status = 'pending'",
                (now, released),
            )
            if not conn.autocommit:
                conn.commit()
        return self.take_counts()

    def pending_in_workers(self) -> int:
        with self._lock:
            return len(self._in_flight)

    def close(self, timeout: float = 5.0) -> None:
        """Stop the workers after the rows in hand (each bounded by its timeout); waits up to ``timeout``."""
        lanes = list(self._lanes.values())
        for lane in lanes:
            try:
                lane.queue.put(None, timeout=timeout)
            except queue.Full:
                continue
        for lane in lanes:
            lane.thread.join(timeout)
