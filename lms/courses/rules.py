"""Input rules for courses, modules and lessons: limits, normalization and their error codes.

Every refusal is a `ValidationFailed` with a stable code and the offending `field`, so a
form can put the message next to the right input.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from typing import Any

from lms.courses.errors import CourseCode
from lms.errors import NotFound, ValidationFailed
from lms.sanitize import plain_text, rich_text

TITLE_MAX = 200
RICH_TEXT_MAX = 100_000  # characters of HTML as sent, before sanitizing
CATEGORY_MAX = 80
TAGS_MAX = 10
TAG_MAX = 40
PRICE_MAX = 10_000_000  # 100,000.00 in a two-decimal currency: above that it is a typo
ENROLLMENT_LIMIT_MAX = 1_000_000
LESSON_DURATION_MAX = 24 * 3600
MODULES_MAX = 100
LESSONS_PER_MODULE_MAX = 200
PREREQUISITES_MAX = 10
CO_INSTRUCTORS_MAX = 10
COVER_BYTES_MAX = 8 * 1024 * 1024
# ISO 4217 codes the payment provider settles; amounts are in each currency's minor unit.
CURRENCIES = frozenset(
    {
        "USD",
        "EUR",
        "GBP",
        "CAD",
        "AUD",
        "NZD",
        "CHF",
        "SEK",
        "NOK",
        "DKK",
        "PLN",
        "CZK",
        "HUF",
        "JPY",
        "CNY",
        "HKD",
        "SGD",
        "INR",
        "KRW",
        "BRL",
        "MXN",
        "ZAR",
        "TRY",
        "ILS",
    }
)
_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
_TAG = re.compile(r"^[a-z0-9][a-z0-9 +#.\-]*$")
_DATA_URL = re.compile(
    r"^data:(?P<type>[\w.+\-]+/[\w.+\-]+)?(?P<params>(;[\w\-]+=[\w.\-]+)*);base64,(?P<data>.*)$",
    re.S,
)


def invalid(code: str, message: str, field: str, **details: Any) -> ValidationFailed:
    return ValidationFailed(message, code=code, field=field, **details)


def title(value: str | None, *, field: str = "title") -> str:
    text = plain_text(value)
    if not text:
        raise invalid(CourseCode.TITLE_REQUIRED, "a title is required", field)
    if len(text) > TITLE_MAX:
        raise invalid(
            CourseCode.TITLE_TOO_LONG,
            f"titles are at most {TITLE_MAX} characters",
            field,
            maxLength=TITLE_MAX,
        )
    return text


def rich(value: str | None, *, field: str) -> str:
    if value and len(value) > RICH_TEXT_MAX:
        raise invalid(
            CourseCode.TEXT_TOO_LONG,
            f"{field} is at most {RICH_TEXT_MAX} characters",
            field,
            maxLength=RICH_TEXT_MAX,
        )
    return rich_text(value)


def category(value: str | None) -> str | None:
    text = plain_text(value)
    if len(text) > CATEGORY_MAX:
        raise invalid(
            CourseCode.INVALID_CATEGORY,
            f"categories are at most {CATEGORY_MAX} characters",
            "category",
        )
    return text or None


def tags(values: list[str] | None) -> list[str]:
    cleaned: list[str] = []
    for raw in values or []:
        tag = plain_text(raw).lower()
        if not tag:
            continue
        if len(tag) > TAG_MAX or not _TAG.match(tag):
            raise invalid(
                CourseCode.INVALID_TAG,
                f"tag {tag[:TAG_MAX]!r}: letters, digits, spaces and + # . - only, "
                f"at most {TAG_MAX} characters",
                "tags",
            )
        if tag not in cleaned:
            cleaned.append(tag)
    if len(cleaned) > TAGS_MAX:
        raise invalid(
            CourseCode.TOO_MANY_TAGS, f"at most {TAGS_MAX} tags", "tags", maxTags=TAGS_MAX
        )
    return cleaned


def language(value: str | None) -> str:
    text = (value or "").strip()
    if not _LANGUAGE.match(text):
        raise invalid(
            CourseCode.INVALID_LANGUAGE,
            "language must be a language tag such as en or pt-BR",
            "language",
        )
    return text


def price_amount(value: int) -> int:
    if value < 0:
        raise invalid(CourseCode.INVALID_PRICE, "the price cannot be negative", "priceAmount")
    if value > PRICE_MAX:
        raise invalid(
            CourseCode.INVALID_PRICE,
            f"the price is at most {PRICE_MAX} minor units",
            "priceAmount",
            maxPriceAmount=PRICE_MAX,
        )
    return value


def currency(value: str) -> str:
    code = (value or "").strip().upper()
    if code not in CURRENCIES:
        raise invalid(
            CourseCode.INVALID_CURRENCY,
            f"unsupported currency {value!r}",
            "currency",
            supported=sorted(CURRENCIES),
        )
    return code


def enrollment_limit(value: int | None) -> int | None:
    if value is not None and not 1 <= value <= ENROLLMENT_LIMIT_MAX:
        raise invalid(
            CourseCode.INVALID_ENROLLMENT_LIMIT,
            f"the enrollment limit is between 1 and {ENROLLMENT_LIMIT_MAX} (or null for no limit)",
            "enrollmentLimit",
        )
    return value


def duration_seconds(value: int | None) -> int:
    value = value or 0
    if not 0 <= value <= LESSON_DURATION_MAX:
        raise invalid(
            CourseCode.INVALID_DURATION,
            f"a lesson lasts between 0 and {LESSON_DURATION_MAX} seconds",
            "durationSeconds",
        )
    return value


def position(value: int | None, count: int, *, field: str = "position") -> int:
    """Where to insert among `count` siblings (default: at the end)."""
    if value is None:
        return count
    if not 0 <= value <= count:
        raise invalid(CourseCode.INVALID_POSITION, f"position is between 0 and {count}", field)
    return value


def parse_id(value: Any, *, code: str, what: str) -> uuid.UUID:
    """A UUID from a GraphQL `ID`; anything else is simply not found."""
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError:
        raise NotFound(f"{what} not found", code=code) from None


def id_list(values: list[Any] | None, *, field: str, maximum: int) -> list[uuid.UUID]:
    ids: list[uuid.UUID] = []
    for raw in values or []:
        try:
            key = raw if isinstance(raw, uuid.UUID) else uuid.UUID(str(raw))
        except ValueError:
            raise invalid(CourseCode.INVALID_ID, f"{raw!r} is not an id", field) from None
        if key not in ids:
            ids.append(key)
    if len(ids) > maximum:
        raise invalid(CourseCode.TOO_MANY_ITEMS, f"at most {maximum} ids", field, maxItems=maximum)
    return ids


def data_url(value: str, *, field: str = "coverImageDataUrl") -> bytes:
    """The bytes of a `data:<type>;base64,<data>` URL (the type is ignored: content decides)."""
    match = _DATA_URL.match(value.strip())
    if not match:
        raise invalid(
            CourseCode.INVALID_IMAGE,
            "send the image as a data URL (data:image/png;base64,...)",
            field,
        )
    encoded = match.group("data")
    if len(encoded) > COVER_BYTES_MAX * 4 // 3 + 4:
        raise invalid(
            CourseCode.IMAGE_TOO_LARGE,
            f"images are at most {COVER_BYTES_MAX} bytes",
            field,
            maxBytes=COVER_BYTES_MAX,
        )
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise invalid(CourseCode.INVALID_IMAGE, "the data URL is not valid base64", field) from None
    if not data:
        raise invalid(CourseCode.INVALID_IMAGE, "the image is empty", field)
    return data
