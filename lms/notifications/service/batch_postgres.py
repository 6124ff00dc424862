"""A batch of notifications on PostgreSQL, set-wise, in two statements.

The first reads every recipient's preferences (global switches, the type's per-channel
choices, digest, urgent override, quiet hours, time zone, whether they have a push
subscription) by joins, decides in-app there, inserts the notifications with
`ON CONFLICT DO NOTHING` (the idempotency key: a re-run skips who was notified) and returns
each new row with its user's new unread count and one text `facts`: what decides its email
and push. When those may leave (digest window, quiet hours in the user's zone) is decided in
Python by `outgoing.plan`, once per distinct `facts`, not once per recipient. The second
statement writes the deliveries on the server from the rows' plan numbers (ids made there,
sending jobs assigned in order, `delivery_batch` to a job): no per-delivery work here.
The facts come from the first statement's snapshot, so a preference changed meanwhile
cannot leave a recipient without a plan.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import text
from sqlalchemy.orm import Session

from lms.models import utcnow
from lms.notifications import events
from lms.notifications.models import (
    DeliveryStatus,
    DigestFrequency,
    NotificationChannel,
    NotificationType,
    Priority,
)
from lms.notifications.service.outgoing import (
    common_payload,
    leaves_now,
    plan,
    received_payloads,
    sending_jobs,
)
from lms.notifications.service.sql import array_text
from lms.notifications.settings import notifications_settings

EMAIL, PUSH = NotificationChannel.EMAIL, NotificationChannel.PUSH

if TYPE_CHECKING:
    from lms.notifications.service.producer import Spec

# Absent choices mean "on" (models.default_preference); URGENT passes a switched-off
# channel when the type's override allows it (always for SYSTEM). Unknown users are skipped
# (an account deleted between the announcement and its fan-out). The zone is part of the
# facts only where it matters (quiet hours, a daily digest), so most recipients share them.
_STORE = text(
    """
WITH recipient AS (
    SELECT u.id AS user_id,
           coalesce(p.in_app_enabled, true) AND coalesce(c_in_app.enabled, true) AS wants_in_app,
           (CAST(:type AS varchar) = 'SYSTEM' OR coalesce(t.urgent_overrides, true))
               AS urgent_passes,
           json_build_array(
               coalesce(p.email_enabled, true) AND coalesce(c_email.enabled, true),
               coalesce(p.push_enabled, true) AND coalesce(c_push.enabled, true),
               CAST(:type AS varchar) = 'SYSTEM' OR coalesce(t.urgent_overrides, true),
               t.digest, p.quiet_start, p.quiet_end,
               CASE WHEN p.quiet_start IS NOT NULL OR t.digest = 'DAILY' THEN u.timezone END,
               EXISTS (SELECT FROM push_subscriptions s WHERE s.user_id = u.id)
           ) AS facts
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
SELECT CAST(stored.id AS text) AS id, CAST(stored.user_id AS text) AS user_id, stored.in_app,
       CAST(r.facts AS text) AS facts,
       -- this statement's snapshot does not see the row it inserts: hence the 1 +
       CASE WHEN stored.in_app THEN 1 + (
           SELECT count(*) FROM notifications n
           WHERE n.user_id = stored.user_id AND n.read_at IS NULL AND n.in_app
             AND (n.expires_at IS NULL OR n.expires_at > :now)
       ) END AS unread
FROM stored JOIN recipient r USING (user_id)
"""
)
# Row i of the arrays is delivery i; `plan` numbers a row of the plan arrays (1-based).
# A plan that leaves now takes the next place in its channel's jobs, `batch` to a job.
_DELIVER = text(
    """
INSERT INTO notification_deliveries (id, notification_id, user_id, channel, status, digest,
                                     not_before, job_id, attempts, error_code, created_at)
SELECT gen_random_uuid(), d.notification_id, d.user_id, p.channel, p.status, p.digest,
       p.not_before,
       CASE WHEN p.leave THEN
           (CASE p.channel WHEN 'EMAIL' THEN CAST(:email_jobs AS uuid[])
                           ELSE CAST(:push_jobs AS uuid[]) END)
           [(row_number() OVER (PARTITION BY p.channel, p.leave ORDER BY d.n) - 1)
            / :batch + 1]
       END,
       0, p.error, :now
FROM unnest(CAST(:notification_ids AS uuid[]), CAST(:user_ids AS uuid[]),
            CAST(:plans AS int[])) WITH ORDINALITY AS d(notification_id, user_id, plan, n)
JOIN unnest(CAST(:plan_channel AS varchar[]), CAST(:plan_status AS varchar[]),
            CAST(:plan_digest AS varchar[]), CAST(:plan_not_before AS timestamptz[]),
            CAST(:plan_error AS varchar[]), CAST(:plan_leave AS boolean[]))
     WITH ORDINALITY AS p(channel, status, digest, not_before, error, leave, plan)
     USING (plan)
"""
)


class _Plan(NamedTuple):
    """One row of the plan arrays: what a delivery of one channel and facts is stored as."""

    channel: str
    status: str
    digest: str | None
    not_before: datetime | None
    error: str | None
    leave: bool


class _Plans:
    """The plan arrays of one batch, one entry per distinct (channel, facts), and for each
    distinct `facts` the plan numbers of its email and push (None without a subscription)."""

    def __init__(self, priority: Priority, now) -> None:
        self.priority, self.now = priority, now
        self.of_facts: dict[str, tuple[int, int | None]] = {}
        self.rows: list[_Plan] = []

    def numbers(self, facts: str) -> tuple[int, int | None]:
        found = self.of_facts.get(facts)
        if found is None:
            parsed = json.loads(facts)
            email, push, urgent_passes, digest, quiet_start, quiet_end, zone, has_push = parsed
            decided = {
                "urgent_passes": urgent_passes,
                "digest": DigestFrequency(digest) if digest else None,
                "quiet": None if None in (quiet_start, quiet_end) else (quiet_start, quiet_end),
                "tz": zone,
            }
            found = self.of_facts[facts] = (
                self._add(EMAIL, email, decided),
                self._add(PUSH, push, decided) if has_push else None,
            )
        return found

    def _add(self, channel: NotificationChannel, wanted: bool, facts: dict) -> int:
        status, digest, not_before = plan(
            channel, self.priority, wanted=wanted, now=self.now, **facts
        )
        error = "PREFERENCE" if status == DeliveryStatus.SKIPPED else None
        leaves = leaves_now(status, not_before)
        self.rows.append(
            _Plan(channel.value, status.value, digest and digest.value, not_before, error, leaves)
        )
        return len(self.rows)

    def leaves(self, number: int) -> bool:
        return self.rows[number - 1].leave

    def columns(self) -> dict[str, list]:
        """The `_DELIVER` parameters: one array per field of `_Plan` (`plan_channel` …)."""
        return {f"plan_{name}": [getattr(row, name) for row in self.rows] for name in _Plan._fields}


def create_batch(
    session: Session,
    user_ids: Sequence,
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
            "user_ids": array_text(user_ids),
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
    plans = _Plans(priority, now)
    notification_ids: list[str] = []
    recipients: list[str] = []
    numbers: list[int] = []
    leaving = {EMAIL: 0, PUSH: 0}
    for notification_id, user_id, _, facts, _ in stored:
        email, push = plans.numbers(facts)
        for channel, number in ((EMAIL, email), (PUSH, push)):
            if number is None:  # no push subscription
                continue
            notification_ids.append(notification_id)
            recipients.append(user_id)
            numbers.append(number)
            leaving[channel] += plans.leaves(number)
    jobs = {
        channel: sending_jobs(session, channel, count, settings.delivery_batch)
        for channel, count in leaving.items()
    }
    session.execute(
        _DELIVER,
        {
            "notification_ids": array_text(notification_ids),
            "user_ids": array_text(recipients),
            "plans": array_text(numbers),
            **plans.columns(),
            "email_jobs": jobs[EMAIL],
            "push_jobs": jobs[PUSH],
            "batch": settings.delivery_batch,
            "now": now,
        },
    )
    common = common_payload(kind, priority, title, spec.body, spec.link, data, now, expires)
    shown = [(i, user, unread) for i, user, in_app, _, unread in stored if in_app]
    events.received(session, received_payloads(common, shown))
    return len(stored)
