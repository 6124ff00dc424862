"""Password hashing (argon2id) and the strength rule.

The rule is deliberately simple and explainable: a minimum length, not one of the most
common passwords, not the email (or its name part). Each failure names its rule in
`extensions.rule` so a client can show the right hint.
"""

from __future__ import annotations

import functools

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from lms.config import Settings, get_settings
from lms.errors import ValidationFailed
from lms.users.errors import UserCode

MAX_LENGTH = 128  # argon2 takes any length; a cap keeps a huge "password" from costing CPU

# The most common passwords of at least 8 characters (from public breach top lists).
COMMON_PASSWORDS = frozenset(
    """
    password password1 password12 password123 password1234 passw0rd p@ssw0rd p@ssword
    12345678 123456789 1234567890 12345678910 0987654321 11111111 1111111111 00000000
    88888888 87654321 123123123 123321123 qwertyuiop qwerty123 qwerty1234 qwertyui
    1q2w3e4r 1q2w3e4r5t 1qaz2wsx 1qaz2wsx3edc zaq12wsx asdfghjkl asdfasdf iloveyou
    iloveyou1 sunshine princess football baseball welcome1 welcome123 letmein123
    abc12345 abcd1234 abcdefgh admin123 administrator trustno1 superman batman123
    starwars dragon123 monkey123 master123 whatever shadow123 michael1 jennifer
    computer internet changeme changeme123 secret123 default123 test1234 testtest
    football1 baseball1 charlie123 jordan23 liverpool chelsea1 arsenal1 samsung1
    q1w2e3r4 q1w2e3r4t5 aa123456 a1b2c3d4 zxcvbnm123 zxcvbnmm 147258369 159753456
    lyceum123 lyceum2024 lyceum2025 lyceum2026 student123 teacher123 school123
    """.split()
)


class WeakPassword(ValidationFailed):
    code = UserCode.WEAK_PASSWORD


def check_strength(password: str, *, email: str | None, settings: Settings | None = None) -> None:
    """Raise `WeakPassword` naming the first rule `password` breaks."""
    settings = settings or get_settings()
    if len(password) < settings.password_min_length:
        raise WeakPassword(
            f"the password must have at least {settings.password_min_length} characters",
            rule="MIN_LENGTH",
            minLength=settings.password_min_length,
        )
    if len(password) > MAX_LENGTH:
        raise WeakPassword(
            f"the password must have at most {MAX_LENGTH} characters", rule="MAX_LENGTH"
        )
    lowered = password.lower()
    if lowered in COMMON_PASSWORDS or len(set(lowered)) <= 2:
        raise WeakPassword("this password is too common; choose another", rule="COMMON_PASSWORD")
    if email:
        address = email.strip().lower()
        local = address.split("@", 1)[0]
        if address in lowered or (len(local) >= 4 and local in lowered):
            raise WeakPassword(
                "the password must not contain your email address", rule="CONTAINS_EMAIL"
            )


@functools.lru_cache(maxsize=4)
def _hasher(time_cost: int, memory_kib: int, parallelism: int) -> PasswordHasher:
    return PasswordHasher(
        time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism, type=Type.ID
    )


def hasher(settings: Settings | None = None) -> PasswordHasher:
    settings = settings or get_settings()
    return _hasher(
        settings.password_hash_time_cost,
        settings.password_hash_memory_kib,
        settings.password_hash_parallelism,
    )


def hash_password(password: str, settings: Settings | None = None) -> str:
    """argon2id; slow on purpose. Call it off the event loop (`asyncio.to_thread`)."""
    return hasher(settings).hash(password)


@functools.lru_cache(maxsize=4)
def _dummy_hash(time_cost: int, memory_kib: int, parallelism: int) -> str:
    return _hasher(time_cost, memory_kib, parallelism).hash("not-a-real-password-0x5f3759df")


def verify_password(
    password_hash: str | None, password: str, settings: Settings | None = None
) -> bool:
    """True if `password` matches. With no hash (unknown email, no password set) a dummy hash
    is verified anyway, so the answer takes as long whether or not the account exists."""
    settings = settings or get_settings()
    ph = hasher(settings)
    target = password_hash or _dummy_hash(
        settings.password_hash_time_cost,
        settings.password_hash_memory_kib,
        settings.password_hash_parallelism,
    )
    try:
        ok = ph.verify(target, password[: MAX_LENGTH * 4])
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    return ok and password_hash is not None


def needs_rehash(password_hash: str, settings: Settings | None = None) -> bool:
    return hasher(settings).check_needs_rehash(password_hash)
