"""The `DateTime`, `JSON` and `BigInt` scalars."""

from __future__ import annotations

from datetime import UTC, datetime

from ariadne import ScalarType

from lms.errors import ValidationFailed

datetime_scalar = ScalarType("DateTime")
json_scalar = ScalarType("JSON")
bigint_scalar = ScalarType("BigInt")
SAFE_INTEGER = 2**53 - 1  # what a JavaScript number holds exactly


@datetime_scalar.serializer
def serialize_datetime(value: datetime | str) -> str:
    if isinstance(value, str):  # already ISO (events from the bus)
        return value
    return value.astimezone(UTC).isoformat()


@datetime_scalar.value_parser
def parse_datetime(value: str) -> datetime:
    # ValidationFailed (not ValueError): graphql-core keeps it as the cause, so a bad
    # literal answers BAD_USER_INPUT instead of looking like a server fault.
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise ValidationFailed(f"not an ISO-8601 timestamp: {str(value)[:60]!r}") from None
    if moment.tzinfo is None:
        raise ValidationFailed("timestamps need a timezone (use Z for UTC)")
    return moment.astimezone(UTC)


@json_scalar.serializer
def serialize_json(value):
    return value


@bigint_scalar.serializer
def serialize_bigint(value: int | float) -> int:
    return int(value)


@bigint_scalar.value_parser
def parse_bigint(value) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationFailed(f"not a whole number: {str(value)[:60]!r}")
    if abs(value) > SAFE_INTEGER:
        raise ValidationFailed(f"{value} is beyond ±(2^53 - 1)")
    return value
