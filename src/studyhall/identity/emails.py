"""The mails identity sends: address verification, password reset, change-of-email notice."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from urllib.parse import quote

from studyhall.config import Settings
from studyhall.core.mail import MailMessage


def link(settings: Settings, path: str, token: str) -> str:
    """A link into the front end at PUBLIC_URL carrying a mailed token."""
    return f"{settings.public_url.rstrip('/')}/{path}?token={quote(token, safe='')}"


def _hours(seconds: int) -> str:
    hours = max(1, round(seconds / 3600))
    return "1 hour" if hours == 1 else f"{hours} hours"


def _mail(
    *,
    to: str,
    full_name: str,
    subject: str,
    paragraphs: tuple[str, str],
    button: tuple[str, str] | None = None,
) -> MailMessage:
    """Every identity mail: a greeting, two paragraphs with the link (`(url, label)`, if any)
    between them, the signature; as plain text and as HTML."""
    greeting = f"Hello {full_name},"
    before, after = paragraphs
    text_link = f"{button[0]}\n\n" if button else ""
    text = f"{greeting}\n\n{before}\n\n{text_link}{after}\n\nStudyHall\n"
    body = "".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    if button:
        url, label = button
        body += f'<p><a href="{escape(url)}">{escape(label)}</a></p>'
    html = f"<html><body><p>{escape(greeting)}</p>{body}<p>StudyHall</p></body></html>"
    return MailMessage(to=to, subject=subject, text=text, html=html)


@dataclass(frozen=True)
class LinkMail:
    """A mail carrying a token link: its wording, the front-end page the link opens and the
    setting that says how long the link works."""

    subject: str
    before: str
    after: str  # `{ttl}` stands for how long the link works
    ttl_setting: str
    page: str
    label: str


VERIFICATION = LinkMail(
    subject="Confirm your email address",
    before="Please confirm that this is your email address for StudyHall by opening this link:",
    after="The link works once and expires in {ttl}. If you did not create an account or "
    "change your address, you can ignore this mail.",
    ttl_setting="email_token_ttl_s",
    page="verify-email",
    label="Confirm my email address",
)
PASSWORD_RESET = LinkMail(
    subject="Reset your password",
    before="Someone asked to reset the password of your StudyHall account. To choose a new "
    "password, open this link:",
    after="The link works once and expires in {ttl}. If you did not ask for this, ignore this "
    "mail: your password stays as it is.",
    ttl_setting="password_reset_ttl_s",
    page="reset-password",
    label="Choose a new password",
)
INVITATION = LinkMail(
    subject="You have been invited to StudyHall",
    before="Your teacher has added you to a course on StudyHall and an account was made for "
    "you with this address. To start, choose your password here:",
    after="The link works once and expires in {ttl}. If you did not expect this, ignore this "
    "mail: nobody can sign in to the account without it.",
    ttl_setting="email_token_ttl_s",
    page="reset-password",
    label="Choose my password",
)


def link_email(
    settings: Settings, kind: LinkMail, *, to: str, full_name: str, token: str
) -> MailMessage:
    """The mail of one kind (VERIFICATION, PASSWORD_RESET, INVITATION) with its token link."""
    ttl = _hours(getattr(settings, kind.ttl_setting))
    return _mail(
        to=to,
        full_name=full_name,
        subject=kind.subject,
        paragraphs=(kind.before, kind.after.format(ttl=ttl)),
        button=(link(settings, kind.page, token), kind.label),
    )


def email_changed_notice(
    settings: Settings, *, to: str, full_name: str, new_email: str
) -> MailMessage:
    """Tells the old address that the account moved, so a hijack does not go unnoticed."""
    return _mail(
        to=to,
        full_name=full_name,
        subject="Your email address was changed",
        paragraphs=(
            f"The email address of your StudyHall account was changed to {new_email}.",
            "If you did not make this change, reset your password and contact your administrator.",
        ),
    )
