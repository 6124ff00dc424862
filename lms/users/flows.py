"""The credential flows as the API runs them: rate limits, then slow hashing off the event
loop, then the service call in its own short transaction.

`runner` is anything with the web context's `read`/`write` (run a sync service function in
its own session) and `settings`; `ip` is the client address for per-IP limits.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from lms.config import Settings
from lms.errors import LmsError, Unauthenticated
from lms.ratelimit import limiter_for
from lms.security import Viewer
from lms.users import passwords, service
from lms.users.errors import UserCode
from lms.users.lockout import LoginGuard, refused


class Runner(Protocol):
    settings: Settings

    async def read(self, fn, *args: Any, **kwargs: Any) -> Any: ...

    async def write(self, fn, *args: Any, **kwargs: Any) -> Any: ...


async def register(
    runner: Runner, viewer: Viewer, *, ip: str | None, input: dict
) -> service.AuthResult:
    limiter = limiter_for(runner.settings)
    await limiter.hit("register_ip", ip, what="sign-up")
    await limiter.hit(
        "register_account", (input.get("email") or "").strip().lower(), what="sign-up"
    )
    registration = await runner.read(
        service.check_registration,
        viewer,
        email=input["email"],
        name=input["name"],
        role=input.get("role") or "STUDENT",
    )
    passwords.check_strength(input["password"], email=registration.email, settings=runner.settings)
    password_hash = await asyncio.to_thread(
        passwords.hash_password, input["password"], runner.settings
    )
    return await runner.write(
        service.create_account, viewer, registration, password_hash=password_hash, ip=ip
    )


async def login(runner: Runner, *, ip: str | None, email: str, password: str) -> service.AuthResult:
    """Wrong email and wrong password answer alike (`INVALID_CREDENTIALS`), in similar time.

    Failures slow down and then lock out one account from one source address only
    (lms/users/lockout.py), so nobody can lock the owner out from elsewhere.
    """
    settings = runner.settings
    await limiter_for(settings).hit("login_ip", ip, what="sign-in")
    account = service.account_key(email)
    guard = LoginGuard(settings)
    source = await guard.source(account, ip)
    found = await runner.read(service.credentials_for, email)
    user_id, password_hash = found if found else (None, None)

    async def failure() -> int:
        failures = await guard.failed(source)
        if user_id is not None and guard.locks_now(failures):
            await runner.write(service.send_unlock_email, user_id, ip=ip)
        return failures

    waiting = await guard.waiting(source)
    if waiting:  # refused unchecked, and counted: hammering only lengthens the wait
        await failure()
        raise refused(max(waiting, await guard.waiting(source)))
    ok = await asyncio.to_thread(passwords.verify_password, password_hash, password or "", settings)
    if not ok:
        await failure()
        raise Unauthenticated("wrong email or password", code=UserCode.INVALID_CREDENTIALS)
    await guard.succeeded(source)
    new_hash = None
    if passwords.needs_rehash(password_hash, settings):
        new_hash = await asyncio.to_thread(passwords.hash_password, password, settings)
    return await runner.write(service.start_session, user_id, ip=ip, new_hash=new_hash)


async def unlock_sign_in(runner: Runner, *, token: str) -> bool:
    """Follow the emailed unlock link: every source may try the account's password again."""
    email = await runner.read(service.unlock_target, token=token)
    await LoginGuard(runner.settings).unlock(service.account_key(email))
    return True


async def refresh(runner: Runner, *, ip: str | None, refresh_token: str) -> service.AuthResult:
    limiter = limiter_for(runner.settings)
    await limiter.hit("refresh_ip", ip, what="token refresh")
    owner = await runner.read(service.refresh_owner, refresh_token)
    await limiter.hit("refresh_account", str(owner) if owner else None, what="token refresh")
    outcome = await runner.write(service.rotate_refresh_token, refresh_token, ip=ip)
    if isinstance(outcome, LmsError):  # raised only now, after a family revocation committed
        raise outcome
    return outcome


async def request_password_reset(runner: Runner, *, ip: str | None, email: str) -> bool:
    limiter = limiter_for(runner.settings)
    await limiter.hit("reset_ip", ip, what="password reset")
    await limiter.hit("reset_account", (email or "").strip().lower(), what="password reset")
    return await runner.write(service.request_password_reset, email=email)


async def reset_password(runner: Runner, *, token: str, new_password: str) -> bool:
    email = await runner.read(service.reset_target, token=token)
    passwords.check_strength(new_password, email=email, settings=runner.settings)
    password_hash = await asyncio.to_thread(passwords.hash_password, new_password, runner.settings)
    return await runner.write(service.reset_password, token=token, password_hash=password_hash)
