"""Outgoing mail: SMTP when a host is configured, otherwise .eml files in DATA_DIR/outbox."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from pathlib import Path

import structlog

from studyhall.config import Settings
from studyhall.core.clock import utcnow
from studyhall.core.ids import new_id

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class MailMessage:
    """One plain-text mail (with an optional HTML alternative) to one recipient."""

    to: str
    subject: str
    text: str
    html: str | None = None


def build_message(settings: Settings, message: MailMessage) -> EmailMessage:
    """The RFC 5322 message with From, To, Date and Message-ID set."""
    email = EmailMessage()
    email["From"] = settings.mail_from
    email["To"] = message.to
    email["Subject"] = message.subject
    email["Date"] = formatdate(utcnow().timestamp(), usegmt=True)
    domain = parseaddr(settings.mail_from)[1].rpartition("@")[2] or "studyhall.local"
    email["Message-ID"] = make_msgid(domain=domain)
    email.set_content(message.text)
    if message.html is not None:
        email.add_alternative(message.html, subtype="html")
    return email


async def send_mail(settings: Settings, message: MailMessage) -> None:
    """Deliver a mail; raises when the SMTP server refuses or is unreachable (callers retry)."""
    email = build_message(settings, message)
    if settings.smtp.host:
        await asyncio.to_thread(_send_smtp, settings, email)
        log.info("mail_sent", to_domain=message.to.rpartition("@")[2], subject=message.subject)
        return
    path = await asyncio.to_thread(_write_outbox, settings.data_dir / "outbox", email)
    # The outbox is the embedded default's mail server: say where the mail went.
    log.info("mail_written_to_outbox", path=str(path), subject=message.subject)


def _send_smtp(settings: Settings, email: EmailMessage) -> None:
    smtp = settings.smtp
    assert smtp.host is not None
    with smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout_s) as client:
        client.ehlo()
        if smtp.starttls:
            client.starttls(context=ssl.create_default_context())
            client.ehlo()
        if smtp.username:
            client.login(smtp.username, smtp.password or "")
        client.send_message(email)


def _write_outbox(outbox: Path, email: EmailMessage) -> Path:
    outbox.mkdir(parents=True, exist_ok=True)
    path = outbox / f"{utcnow().strftime('%Y%m%dT%H%M%S')}-{new_id().hex}.eml"
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(bytes(email))
    tmp.replace(path)
    return path
