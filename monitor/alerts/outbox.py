"""The notification outbox: pending rows are sent through pluggable channels, retried with backoff, then failed.

Channels: ``log`` (the process log; the dashboard shows alerts live anyway), ``webhook`` (JSON POST to the
recipient URL or the configured one), ``sms`` (JSON POST ``{"to", "text"}`` to an SMS-gateway HTTP API) and
``email`` (SMTP). A channel that is not configured fails its rows with that reason, visibly.
"""

from __future__ import annotations

import json
import logging
import smtplib
import urllib.request
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

import psycopg
from psycopg.rows import dict_row
from pydantic import BaseModel, Field

log = logging.getLogger("eldercare.notify")

MAX_ATTEMPTS = 5
Sender = Callable[[str, str, str], None]  # (recipient, subject, body); raises on failure


class NotifySettings(BaseModel):
    webhook_url: str | None = None
    sms_url: str | None = None
    smtp_host: str | None = None
    smtp_port: int = Field(default=25, ge=1, le=65535)
    email_from: str = "eldercare@localhost"
    timeout_s: float = Field(default=5.0, gt=0)


class ChannelNotConfigured(RuntimeError):
    pass


def _post_json(url: str, payload: dict[str, Any], timeout: float) -> None:
    req = urllib.request.Request(
        url,
        data=json.dumps(payload, ensure_ascii=False).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        if resp.status >= 300:
            raise RuntimeError(f"HTTP {resp.status}")


def senders(cfg: NotifySettings) -> dict[str, Sender]:
    """The channel senders for these settings."""

    def send_log(recipient: str, subject: str, body: str) -> None:
        log.warning("notify %s: %s | %s", recipient, subject, body.replace("\n", " / "))

    def send_webhook(recipient: str, subject: str, body: str) -> None:
        url = recipient if recipient.startswith(("http://", "https://")) else cfg.webhook_url
        if not url:
            raise ChannelNotConfigured("no webhook URL configured (ELDERCARE_NOTIFY_WEBHOOK_URL)")
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


def deliver_pending(
    conn: psycopg.Connection, channels: Mapping[str, Sender], *, now: datetime, limit: int = 100
) -> tuple[int, int]:
    """Send due pending notifications, one transaction per row; returns (sent, failed this round)."""
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
            try:
                sender = channels.get(row["channel"])
                if sender is None:
                    raise ChannelNotConfigured(f"unknown channel {row['channel']!r}")
                sender(row["recipient"], row["subject"], row["body"])
            except Exception as exc:
                failed += 1
                attempts = row["attempts"] + 1
                final = attempts >= MAX_ATTEMPTS or isinstance(exc, ChannelNotConfigured)
                log.warning(
                    "notification %s via %s failed (%s): %s", row["id"], row["channel"], attempts, exc
                )
                cur.execute(
                    "UPDATE notification SET attempts = %s, last_error = %s, status = %s, next_attempt_at = %s "
                    "WHERE id = %s",
                    (
                        attempts,
                        str(exc)[:500],
                        "failed" if final else "pending",
                        now + backoff(attempts),
                        row["id"],
                    ),
                )
                continue
            sent += 1
            cur.execute(
                "UPDATE notification SET status = 'sent', attempts = attempts + 1, sent_at = clock_timestamp(), "
                "last_error = NULL WHERE id = %s",
                (row["id"],),
            )
    return sent, failed
