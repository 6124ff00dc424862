"""Side effects that leave the system, done at most once per job: an email, a push, a
webhook call, a payment API call.

Each effect has an idempotency key derived from the job (`effect_key(job_id, "email")`)
and a row in `effect_deliveries`, written in its own autocommit statement so it stands even
if the worker dies before the job's success is recorded:

- SENDING: the point of no return was passed (for SMTP: the end of DATA is about to be
  sent), the provider may have the message even if its answer never came back;
- DONE: the provider accepted it (its message id is kept).

A re-run (redelivery after a killed worker, a retry) that finds either row skips the send.
A definite refusal by the provider removes the row, so a retry may send again.
"""

from __future__ import annotations

import enum
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ForeignKey, String, delete, insert, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Mapped, mapped_column

from lms.config import Settings, get_settings
from lms.models import Base, utcnow

log = logging.getLogger(__name__)
WRITE_ATTEMPTS = 4


class EffectStatus(enum.StrEnum):
    SENDING = "SENDING"
    DONE = "DONE"


class EffectDelivery(Base):
    """One side effect of a job that left (or was leaving) the system, by idempotency key."""

    __tablename__ = "effect_deliveries"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    job_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("jobs.id", ondelete="SET NULL"), index=True
    )
    effect: Mapped[str] = mapped_column(String(50))
    status: Mapped[str] = mapped_column(String(16))
    provider_id: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column()


@dataclass(frozen=True)
class Recorded:
    status: EffectStatus
    provider_id: str | None


_TABLE = EffectDelivery.__table__


def effect_key(job_id: uuid.UUID | str, effect: str) -> str:
    """The idempotency key of `effect` for a job: the same on every attempt and redelivery."""
    return f"job:{job_id}:{effect}"


def recorded(key: str, settings: Settings | None = None) -> Recorded | None:
    """What is known of the effect: None if it was never sent."""
    row = _write(
        settings,
        lambda c: c.execute(
            select(_TABLE.c.status, _TABLE.c.provider_id).where(_TABLE.c.key == key)
        ).first(),
    )
    return Recorded(EffectStatus(row.status), row.provider_id) if row else None


def mark_sending(
    key: str, *, job_id: uuid.UUID, effect: str, settings: Settings | None = None
) -> None:
    """Record that the effect is past its point of no return (kept if already recorded)."""
    row = {
        "key": key,
        "job_id": job_id,
        "effect": effect,
        "status": EffectStatus.SENDING,
        "created_at": utcnow(),
    }
    try:
        _write(settings, lambda c: c.execute(insert(_TABLE).values(row)))
    except IntegrityError:
        pass  # already SENDING or DONE from an earlier attempt


def mark_done(
    key: str,
    *,
    job_id: uuid.UUID,
    effect: str,
    provider_id: str | None,
    settings: Settings | None = None,
) -> None:
    """Record that the provider accepted the effect."""

    def write(connection) -> None:
        values = {"status": EffectStatus.DONE, "provider_id": provider_id, "done_at": utcnow()}
        changed = connection.execute(update(_TABLE).where(_TABLE.c.key == key).values(values))
        if changed.rowcount == 0:
            connection.execute(
                insert(_TABLE).values(
                    key=key, job_id=job_id, effect=effect, created_at=utcnow(), **values
                )
            )

    _write(settings, write)


def forget(key: str, settings: Settings | None = None) -> None:
    """The provider refused: the effect did not happen, a retry may try again."""
    _write(settings, lambda c: c.execute(delete(_TABLE).where(_TABLE.c.key == key)))


def _write(settings: Settings | None, work):
    """Run `work(connection)` in one short transaction, retrying a dropped connection: the
    record must not be lost to a database blip right after the provider took the effect."""
    from lms.db import autocommit_engine  # lms.db imports this module's model at its start

    engine = autocommit_engine(settings or get_settings())
    for attempt in range(1, WRITE_ATTEMPTS + 1):
        try:
            with engine.begin() as connection:
                return work(connection)
        except OperationalError:
            if attempt == WRITE_ATTEMPTS:
                raise
            log.warning("effect record write failed (attempt %d); retrying", attempt)
            time.sleep(0.1 * attempt)
    return None
