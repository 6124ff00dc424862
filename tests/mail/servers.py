"""Helpers for the local SMTP server used by the mail tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from aiosmtpd.smtp import AuthResult, LoginPassword


@dataclass
class Delivery:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes


class RecordingHandler:
    """Accepts everything and records each envelope; refuses RCPT/DATA as configured."""

    def __init__(self, *, rcpt_reply: dict[str, str] | None = None, data_reply: str | None = None):
        self.deliveries: list[Delivery] = []
        self.rcpt_reply = rcpt_reply or {}
        self.data_reply = data_reply

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.rcpt_reply:
            return self.rcpt_reply[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.data_reply is not None:
            return self.data_reply
        self.deliveries.append(
            Delivery(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content)
        )
        return "250 2.0.0 Message accepted for delivery"


def authenticator(valid: tuple[bytes, bytes]) -> Callable:
    def check(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == valid
        return AuthResult(success=ok, handled=False)

    return check
