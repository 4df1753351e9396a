"""A real SMTP server (aiosmtpd) on 127.0.0.1 that collects the mails it receives."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session


@dataclass
class ReceivedMail:
    """One delivered mail: the envelope and the parsed message."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def text(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        assert part is not None
        return str(part.get_content())  # type: ignore[attr-defined]

    def token(self) -> str:
        """The `token` query parameter of the first link in the mail."""
        match = re.search(r"[?&]token=([A-Za-z0-9_\-%.~]+)", self.text)
        assert match, self.text
        return match.group(1)


@dataclass
class SMTPPeer:
    """Listens on a random local port; `fail_with` makes it refuse DATA with that reply."""

    username: str | None = None
    password: str | None = None
    mails: list[ReceivedMail] = field(default_factory=list)
    fail_with: str | None = None
    port: int = 0
    logins: int = 0
    _server: asyncio.Server | None = None

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.fail_with is not None:
            return self.fail_with
        if self.username is not None and not session.authenticated:
            return "530 5.7.0 Authentication required"
        content = envelope.original_content or envelope.content
        assert isinstance(content, bytes)
        message = message_from_bytes(content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.mails.append(ReceivedMail(str(envelope.mail_from), list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and data.login.decode() == self.username
            and data.password.decode() == self.password
        )
        if ok:
            self.logins += 1
        return AuthResult(success=ok, handled=False, auth_data=data if ok else None)

    def _protocol(self) -> SMTP:
        if self.username is None:
            return SMTP(self, hostname="localhost")
        return SMTP(
            self,
            hostname="localhost",
            authenticator=self._authenticate,
            auth_require_tls=False,
        )

    async def start(self) -> None:
        """Listen (again on the same port after a stop, so settings stay valid)."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._protocol, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening: clients now get 'connection refused'."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def to(self, address: str) -> list[ReceivedMail]:
        """Mails delivered to an address."""
        return [m for m in self.mails if address in m.rcpt_tos]

    def last_to(self, address: str) -> ReceivedMail:
        """The newest mail to an address."""
        mails = self.to(address)
        assert mails, f"no mail to {address}; got {[m.rcpt_tos for m in self.mails]}"
        return mails[-1]
