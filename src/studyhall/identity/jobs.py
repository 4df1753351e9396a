"""Identity's job kinds: mail goes out through the queue, so a down SMTP server is retried."""

from __future__ import annotations

import structlog

from studyhall.core.mail import send_mail
from studyhall.identity import service
from studyhall.jobs.registry import JobContext

log = structlog.get_logger(__name__)


async def send_email(ctx: JobContext) -> None:
    """Render and send one identity mail; an SMTP failure raises, so the job is retried."""
    async with ctx.db.session(write=False) as session:
        message = await service.render_email(session, settings=ctx.settings, payload=ctx.payload)
    if message is None:
        log.info("mail_no_longer_due", template=ctx.payload.get("template"))
        return
    await send_mail(ctx.settings, message)


async def password_reset_request(ctx: JobContext) -> None:
    """Forgot-password's work, out of the request: look the address up and mail a link."""
    async with ctx.db.session() as session:
        await service.process_password_reset_request(
            session, settings=ctx.settings, email=str(ctx.payload["email"])
        )
