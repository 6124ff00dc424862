"""Helpers for the local SMTP server used by the mail tests."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from email import message_from_bytes
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

    def message_ids(self) -> list[str]:
        """The Message-ID of every message received, repeats included."""
        return [str(message_from_bytes(d.data)["Message-ID"]) for d in self.deliveries]


def authenticator(valid: tuple[bytes, bytes]) -> Callable:
    def check(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == valid
        return AuthResult(success=ok, handled=False)

    return check


class HoldingHandler(RecordingHandler):
    """Records each message and holds one reply of its first exchange until `release` is
    set: the 250 to DATA (the message is in the server's hands, the client still waits for
    the answer) or the 221 to QUIT (accepted and answered, the client not done yet).

    `received` is set once the first message is recorded and its reply is being held."""

    def __init__(self, hold: str = "DATA", **kwargs) -> None:
        super().__init__(**kwargs)
        self.hold = hold
        self.received = threading.Event()
        self.release = threading.Event()

    async def _held(self) -> None:
        self.received.set()
        await asyncio.get_running_loop().run_in_executor(None, self.release.wait, 120)

    async def handle_DATA(self, server, session, envelope):
        reply = await super().handle_DATA(server, session, envelope)
        if self.hold == "DATA":
            await self._held()
        return reply

    async def handle_QUIT(self, server, session, envelope):
        if self.hold == "QUIT" and self.deliveries:
            await self._held()
        return "221 Bye"
