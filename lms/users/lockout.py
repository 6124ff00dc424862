"""Failed sign-ins, counted per account *and* source address: progressive delays, then a lock.

An attacker guessing one account's password from one address slows down and then locks
out only that address, for that account: the owner still signs in from theirs. Attempts
made during a delay are refused unchecked and count as failures too, so hammering only
makes it worse. When a source gets locked the owner is emailed an unlock link; following
it starts a new generation of the account's counters (every source starts afresh).
"""

from __future__ import annotations

from lms.config import Settings
from lms.errors import RateLimited
from lms.ratelimit import limiter_for

GENERATION_SECONDS = 90 * 24 * 3600


class LoginGuard:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.limiter = limiter_for(settings)

    async def source(self, account: str, ip: str | None) -> str:
        """The counter subject of `account` signing in from `ip`."""
        generation, _ = await self.limiter.count("login_generation", account)
        return f"{account}\n{ip or '-'}\n{generation}"

    def delay(self, failures: int) -> float:
        """Seconds before the next attempt: 0 at first, then 2, 4, 8 … up to the lock."""
        settings = self.settings
        if failures >= settings.login_lock_failures:
            return settings.login_lock_seconds
        if failures <= settings.login_free_failures:
            return 0
        return min(settings.login_lock_seconds, 2 ** (failures - settings.login_free_failures))

    async def waiting(self, source: str) -> float:
        """Seconds left of the current delay or lock of `source` (0: may try now)."""
        held, remaining = await self.limiter.count("login_hold", source)
        return remaining if held else 0.0

    async def failed(self, source: str) -> int:
        """Count a failure; the failures of this source so far (in the lock window)."""
        failures = await self.limiter.add(
            "login_failures", source, self.settings.login_lock_seconds
        )
        delay = self.delay(failures)
        if delay:
            await self.limiter.hold("login_hold", source, delay)
        return failures

    def locks_now(self, failures: int) -> bool:
        return failures == self.settings.login_lock_failures

    async def succeeded(self, source: str) -> None:
        await self.limiter.reset("login_failures", source)
        await self.limiter.reset("login_hold", source)

    async def unlock(self, account: str) -> None:
        await self.limiter.add("login_generation", account, GENERATION_SECONDS)


def refused(seconds: float) -> RateLimited:
    wait = max(1, round(seconds + 0.499))
    return RateLimited(
        f"too many failed sign-ins from here; try again in {wait} s",
        code="RATE_LIMITED",
        retryAfter=wait,
    )
