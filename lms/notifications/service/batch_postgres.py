"""A batch of notifications on PostgreSQL, set-wise: one statement stores them and answers
what each recipient's deliveries need; the deliveries go in by one COPY.

The statement reads every recipient's preferences (global switches, the type's per-channel
choices, digest, urgent override, quiet hours, time zone, whether they have a push
subscription) by joins, decides in-app there, inserts the notifications with
`ON CONFLICT DO NOTHING` (the idempotency key: a re-run skips who was notified) and returns
the new rows with those facts and the user's new unread count. When an email or push may
leave (digest window, quiet hours in the user's zone) is decided in Python by
`outgoing.plan`, once per distinct combination of those facts, not once per recipient.
Deliveries belong to notifications created by this very statement, so nothing can conflict
with them: a plain COPY stores them.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import psycopg
from sqlalchemy import insert, text
from sqlalchemy.orm import Session

from lms.models import new_id, utcnow
from lms.notifications import events
from lms.notifications.models import (
    DeliveryStatus,
    DigestFrequency,
    NotificationChannel,
    NotificationDelivery,
    NotificationType,
    Priority,
)
from lms.notifications.service.outgoing import (
    assign_jobs,
    common_payload,
    leaves_now,
    plan,
    received_payloads,
)
from lms.notifications.settings import notifications_settings

if TYPE_CHECKING:
    from lms.notifications.service.producer import Spec

# Absent choices mean "on" (models.default_preference); URGENT passes a switched-off
# channel when the type's override allows it (always for SYSTEM). Unknown users are skipped
# (an account deleted between the announcement and its fan-out).
_STORE = text(
    """
WITH recipient AS (
    SELECT u.id AS user_id, u.timezone,
           coalesce(p.in_app_enabled, true) AND coalesce(c_in_app.enabled, true) AS wants_in_app,
           coalesce(p.email_enabled, true) AND coalesce(c_email.enabled, true) AS wants_email,
           coalesce(p.push_enabled, true) AND coalesce(c_push.enabled, true) AS wants_push,
           (CAST(:type AS varchar) = 'SYSTEM' OR coalesce(t.urgent_overrides, true))
               AS urgent_passes,
           t.digest, p.quiet_start, p.quiet_end,
           EXISTS (SELECT FROM push_subscriptions s WHERE s.user_id = u.id) AS has_push
    FROM (SELECT DISTINCT unnest(CAST(:user_ids AS uuid[])) AS id) AS asked
    JOIN users u ON u.id = asked.id
    LEFT JOIN notification_profiles p ON p.user_id = u.id
    LEFT JOIN notification_preferences c_in_app ON c_in_app.user_id = u.id
        AND c_in_app.notification_type = :type AND c_in_app.channel = 'IN_APP'
    LEFT JOIN notification_preferences c_email ON c_email.user_id = u.id
        AND c_email.notification_type = :type AND c_email.channel = 'EMAIL'
    LEFT JOIN notification_preferences c_push ON c_push.user_id = u.id
        AND c_push.notification_type = :type AND c_push.channel = 'PUSH'
    LEFT JOIN notification_type_settings t ON t.user_id = u.id AND t.notification_type = :type
), stored AS (
    INSERT INTO notifications (id, user_id, type, priority, title, body, link, data,
                               idempotency_key, in_app, created_at, expires_at)
    SELECT gen_random_uuid(), user_id, :type, :priority, :title, :body, :link,
           CAST(:data AS json), :key, wants_in_app OR (:urgent AND urgent_passes),
           :now, :expires
    FROM recipient
    ON CONFLICT DO NOTHING
    RETURNING id, user_id, in_app
)
SELECT stored.id, stored.user_id, stored.in_app, r.timezone, r.wants_email, r.wants_push,
       r.urgent_passes, r.digest, r.quiet_start, r.quiet_end, r.has_push,
       -- this statement's snapshot does not see the row it inserts: hence the 1 +
       CASE WHEN stored.in_app THEN 1 + (
           SELECT count(*) FROM notifications n
           WHERE n.user_id = stored.user_id AND n.read_at IS NULL AND n.in_app
             AND (n.expires_at IS NULL OR n.expires_at > :now)
       ) END AS unread
FROM stored JOIN recipient r USING (user_id)
"""
)
_DELIVERIES = NotificationDelivery.__tablename__
_DELIVERY_COLUMNS = (
    "id",
    "notification_id",
    "user_id",
    "channel",
    "status",
    "digest",
    "not_before",
    "job_id",
    "attempts",
    "error_code",
    "created_at",
)
_JOB_ID = _DELIVERY_COLUMNS.index("job_id")


def create_batch(
    session: Session,
    user_ids: Sequence[uuid.UUID],
    spec: Spec,
    kind: NotificationType,
    priority: Priority,
    data: dict[str, Any],
) -> int:
    settings = notifications_settings()
    now = utcnow()
    expires = now + timedelta(days=spec.expires_in_days or settings.retention_days)
    title = spec.title[:200]
    stored = session.execute(
        _STORE,
        {
            "user_ids": list(user_ids),
            "type": kind.value,
            "priority": priority.value,
            "title": title,
            "body": spec.body,
            "link": spec.link,
            "data": json.dumps(data),
            "key": spec.key,
            "urgent": priority == Priority.URGENT,
            "now": now,
            "expires": expires,
        },
    ).all()
    if not stored:
        return 0
    plans: dict[tuple, tuple] = {}

    def decide(channel: NotificationChannel, wanted: bool, row) -> tuple:
        """(status, digest, not_before, error code) as stored, and whether it leaves now."""
        facts = (channel, wanted, row.urgent_passes, row.digest, row.quiet_start, row.quiet_end)
        # The zone matters only for quiet hours and daily digests: most rows share a key.
        zoned = row.quiet_start is not None or row.digest == DigestFrequency.DAILY.value
        key = (*facts, row.timezone if zoned else None)
        found = plans.get(key)
        if found is None:
            quiet = None if row.quiet_start is None else (row.quiet_start, row.quiet_end)
            status, digest, not_before = plan(
                channel,
                priority,
                wanted=wanted,
                urgent_passes=row.urgent_passes,
                digest=DigestFrequency(row.digest) if row.digest else None,
                quiet=quiet if quiet and quiet[1] is not None else None,
                tz=row.timezone,
                now=now,
            )
            error = "PREFERENCE" if status == DeliveryStatus.SKIPPED else None
            stored_as = (status.value, digest and digest.value, not_before, error)
            found = plans[key] = (stored_as, leaves_now(status, not_before))
        return found

    # Rows in COPY's column order (_DELIVERY_COLUMNS); the job id is filled in below.
    deliveries: list[list[Any]] = []
    leaving: list[tuple[NotificationChannel, uuid.UUID]] = []
    at: list[int] = []
    for row in stored:
        outgoing = [(NotificationChannel.EMAIL, row.wants_email)]
        if row.has_push:
            outgoing.append((NotificationChannel.PUSH, row.wants_push))
        for channel, wanted in outgoing:
            (status, digest, not_before, error), leaves = decide(channel, wanted, row)
            delivery_id = new_id()
            if leaves:
                leaving.append((channel, delivery_id))
                at.append(len(deliveries))
            deliveries.append(
                [delivery_id, row.id, row.user_id, channel.value, status, digest, not_before]
                + [None, 0, error, now]
            )
    for index, job_id in zip(at, assign_jobs(session, leaving, settings.delivery_batch)):
        deliveries[index][_JOB_ID] = job_id
    _store_deliveries(session, deliveries)
    common = common_payload(kind, priority, title, spec.body, spec.link, data, now, expires)
    shown = [(row.id, row.user_id, row.unread) for row in stored if row.in_app]
    events.received(session, received_payloads(common, shown))
    return len(stored)


def _store_deliveries(session: Session, deliveries: list[list[Any]]) -> None:
    """One COPY on a worker's (synchronous) connection; in the API, under the async driver,
    an INSERT of the few rows a producer's request makes."""
    if not deliveries:
        return
    session.flush()  # the sending jobs' rows go first, in this transaction
    driver = session.connection().connection.driver_connection
    if not isinstance(driver, psycopg.Connection):
        session.execute(
            insert(NotificationDelivery.__table__),
            [dict(zip(_DELIVERY_COLUMNS, row, strict=True)) for row in deliveries],
        )
        return
    columns = ", ".join(_DELIVERY_COLUMNS)
    with (
        driver.cursor() as cursor,
        cursor.copy(f"COPY {_DELIVERIES} ({columns}) FROM STDIN") as copy,
    ):
        for row in deliveries:
            copy.write_row(row)
