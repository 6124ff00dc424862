"""Badges and achievements: declarative rules over the rollups, each awarded once.

A rule is a name, a title and a condition on one of a student's totals (summed from
`analytics_course_students`, or the longest streak of active days). The award row's primary
key (user, badge) makes it once only; the notification's key makes the message once too.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import (
    DateTime,
    String,
    Uuid,
    any_,
    bindparam,
    case,
    distinct,
    func,
    literal,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from lms.analytics.models import Badge, CourseStudent, StudentDaily
from lms.models import utcnow
from lms.notifications.service import notify, notify_many


@dataclass(frozen=True)
class Rule:
    badge: str
    title: str
    total: str  # the total it reads: an incremental run checks students whose total moved
    at_least: int  # earned when the total reaches it

    def earned(self, total: int) -> bool:
        return total >= self.at_least


STREAK_BADGE = "STREAK_7_DAYS"
STREAK_DAYS = 7
RULES = (
    Rule("FIRST_COURSE_COMPLETED", "First course completed", "completed", 1),
    Rule("PERFECT_QUIZ", "A perfect score", "perfect", 1),
    Rule("TEN_LESSONS", "Ten lessons completed", "lessons", 10),
    Rule(STREAK_BADGE, "Seven days in a row", "streak", STREAK_DAYS),
)
TITLES = {rule.badge: rule.title for rule in RULES}
STREAK_RULES = tuple(rule for rule in RULES if rule.total == "streak")
TOTAL_RULES = tuple(rule for rule in RULES if rule.total != "streak")  # read course totals
FAN_OUT_ABOVE = 20


def longest_streak(days: Iterable[date]) -> int:
    best = run = 0
    previous = None
    for day in sorted(set(days)):
        run = run + 1 if previous is not None and day - previous == timedelta(days=1) else 1
        best, previous = max(best, run), day
    return best


def current_streak(days: Iterable[date], today: date) -> int:
    """Consecutive active days ending today or yesterday."""
    active = set(days)
    day = today if today in active else today - timedelta(days=1)
    count = 0
    while day in active:
        count, day = count + 1, day - timedelta(days=1)
    return count


def _batches(users: Iterable[uuid.UUID], size: int = 2000) -> list[list[uuid.UUID]]:
    chosen = sorted(set(users))
    return [chosen[i : i + size] for i in range(0, len(chosen), size)]


def _without_badge(session: Session, badge: str, users: list[uuid.UUID]) -> list[uuid.UUID]:
    """PostgreSQL (incremental runs): `users` who do not hold `badge` yet."""
    users_array = bindparam("users", users, type_=postgresql.ARRAY(Uuid))
    held = select(Badge.user_id).where(Badge.badge == badge, Badge.user_id == any_(users_array))
    holders = set(session.scalars(held))
    return [user for user in users if user not in holders]


def _total_sums():
    """Per student, summed over their courses: the totals the rules read."""
    C = CourseStudent
    return {
        "completed": func.sum(case_bool(C.completed)),
        "perfect": func.sum(C.perfect),
        "lessons": func.sum(C.lesson_completions),
    }


def _sums(session: Session, users: list[uuid.UUID] | None) -> dict[uuid.UUID, dict]:
    C = CourseStudent
    sums = _total_sums()
    query = select(C.user_id, sums["completed"], sums["perfect"], sums["lessons"]).group_by(
        C.user_id
    )
    if users is not None:
        query = query.where(C.user_id.in_(users))
    return {
        user: {"completed": completed or 0, "perfect": perfect or 0, "lessons": lessons or 0}
        for user, completed, perfect, lessons in session.execute(query)
    }


def _totals(session: Session, users: list[uuid.UUID] | None) -> dict[uuid.UUID, dict]:
    totals = _sums(session, users)
    streaks = _streaks(session, users, None)
    for user, values in totals.items():
        values["streak"] = streaks.get(user, 0)
    return totals


def _streaks(
    session: Session, users: list[uuid.UUID] | None, since: date | None
) -> dict[uuid.UUID, int]:
    """Longest streaks of 7+ active days (others: absent). With `since` (the first day an
    incremental run added), only the days from a week before it: a streak that new days
    can have made lies there."""
    since = None if since is None else since - timedelta(days=STREAK_DAYS - 1)
    if session.get_bind().dialect.name == "postgresql":
        scope, parameters = ["true"], {"days": STREAK_DAYS}
        if users is not None:
            scope.append("user_id = ANY(:users)")
            parameters["users"] = list(users)
        if since is not None:
            scope.append("day >= :since")
            parameters["since"] = since
        active = _STUDENT_DAYS.format(scope=" AND ".join(scope))
        query = text(_STREAKS_PG.format(active=active))
        return dict(session.execute(query, parameters).all())
    # Only students with 7+ active days can hold a 7-day streak: fetch their days alone.
    S = StudentDaily
    candidates = select(S.user_id).group_by(S.user_id)
    if users is not None:
        candidates = candidates.where(S.user_id.in_(users))
    if since is not None:
        candidates = candidates.where(S.day >= since)
    candidates = candidates.having(func.count(distinct(S.day)) >= STREAK_DAYS)
    days: dict[uuid.UUID, set[date]] = {}
    for user, day in session.execute(
        select(S.user_id, S.day).where(S.user_id.in_(candidates)).distinct()
    ):
        days.setdefault(user, set()).add(day)
    found = {user: longest_streak(d) for user, d in days.items()}
    return {user: n for user, n in found.items() if n >= STREAK_DAYS}


# Gaps and islands over (user_id, day) pairs of active days: consecutive days share
# `day - row_number`; only runs of :days or more come back.
_STREAKS_PG = """
SELECT user_id, max(length) FROM (
    SELECT user_id, count(*) AS length FROM (
        SELECT user_id, day - (row_number() OVER (PARTITION BY user_id ORDER BY day))::int AS run
        FROM ({active}) d
    ) r GROUP BY user_id, run HAVING count(*) >= :days
) s GROUP BY user_id
"""
# A student's active days: those of their student days, or the same read from the events (a
# day with an event in a course), which a full run's rebuild reads beside the student days.
_STUDENT_DAYS = "SELECT DISTINCT user_id, day FROM analytics_student_daily WHERE {scope}"
_EVENT_DAYS = """
SELECT DISTINCT actor_id AS user_id, timezone('UTC', timestamp)::date AS day
FROM learning_events WHERE course_id IS NOT NULL AND stored_at < :before
"""


def case_bool(column):
    return case((column, 1), else_=0)


def award_badges(
    session: Session,
    users: Iterable[uuid.UUID] | None,
    *,
    moved: dict[str, list[uuid.UUID]] | None = None,
    streaks_from: date | None = None,
) -> int:
    """Award what the rules say to `users` (everyone, when None); returns new awards.
    An incremental run passes instead `moved` (per total, the students whose total it
    changed: each rule checks only those, without the badge yet) and `streaks_from` (the
    first day it added: streaks are looked for from a week before).

    One insert per rule and batch (`ON CONFLICT DO NOTHING RETURNING`: only new awards come
    back), then a notification to each new holder: one by one for a few, as one fan-out job
    for many (a full rollup may award thousands at once)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    new: dict[str, list[uuid.UUID]] = {rule.badge: [] for rule in RULES}

    def award(rule: Rule, earned: list[uuid.UUID]) -> None:
        for start in range(0, len(earned), 2000):
            now = utcnow()
            rows = [
                {"user_id": u, "badge": rule.badge, "awarded_at": now}
                for u in earned[start : start + 2000]
            ]
            stmt = (
                insert(Badge)
                .values(rows)
                .on_conflict_do_nothing(index_elements=["user_id", "badge"])
            )
            new[rule.badge].extend(session.scalars(stmt.returning(Badge.user_id)))

    if moved is None and users is None and dialect == "postgresql":
        return award_everyone(session)
    if moved is not None:
        for rule in RULES:
            for batch in _batches(moved.get(rule.total, []), size=20_000):
                batch = _without_badge(session, rule.badge, batch)
                if not batch:
                    continue
                if rule.total == "streak":
                    found = _streaks(session, batch, streaks_from)
                else:
                    found = {u: t[rule.total] for u, t in _sums(session, batch).items()}
                award(rule, [user for user, n in found.items() if rule.earned(n)])
    else:
        chosen = None if users is None else sorted(set(users))
        for batch in [None] if chosen is None else _batches(chosen):
            totals = _totals(session, batch)
            for rule in RULES:
                award(rule, [u for u, t in totals.items() if rule.earned(t[rule.total])])
    return _notify(session, new)


def _notify(session: Session, new: dict[str, list[uuid.UUID]]) -> int:
    """A notification to each new holder (by badge): one by one for a few, as one fan-out
    job for many. Returns how many badges were new."""
    for badge, holders in new.items():
        spec = {"type": "SYSTEM", "title": f"New badge: {TITLES[badge]}", "data": {"badge": badge}}
        if len(holders) > FAN_OUT_ABOVE:
            notify_many(session, user_ids=holders, key=f"badge:{badge}", **spec)
        else:
            for user in holders:
                notify(session, user_id=user, key=f"badge:{user}:{badge}", **spec)
    return sum(len(h) for h in new.values())


def award_everyone(
    session: Session, rules: Iterable[Rule] = RULES, *, active_before: datetime | None = None
) -> int:
    """PostgreSQL (a full run): each rule's badge to every student who earned it, one
    INSERT … SELECT per rule with nothing read into Python, then the notifications; returns
    the new awards. Streaks are read from the student days, or with `active_before` from the
    events stored before it (so that they need not wait for the student days' rebuild)."""
    new = {rule.badge: _award_everyone(session, rule, active_before) for rule in rules}
    return _notify(session, new)


def _award_everyone(
    session: Session, rule: Rule, active_before: datetime | None
) -> list[uuid.UUID]:
    """`rule`'s badge to every student who earned it; returns the new holders."""
    if rule.total == "streak":
        if active_before is None:
            active = text(_STREAKS_PG.format(active=_STUDENT_DAYS.format(scope="true")))
        else:
            active = text(_STREAKS_PG.format(active=_EVENT_DAYS))
            active = active.bindparams(before=active_before)
        streaks = active.bindparams(days=rule.at_least)
        earners = select(streaks.columns(user_id=Uuid).subquery().c.user_id)
    else:
        C = CourseStudent
        earners = (
            select(C.user_id).group_by(C.user_id).having(_total_sums()[rule.total] >= rule.at_least)
        )
    now = utcnow()
    rows = earners.add_columns(
        literal(rule.badge, String).label("badge"), literal(now, DateTime(True)).label("at")
    )
    stmt = (
        postgresql.insert(Badge)
        .from_select(["user_id", "badge", "awarded_at"], rows)
        .on_conflict_do_nothing(index_elements=["user_id", "badge"])
        .returning(Badge.user_id)
    )
    return list(session.scalars(stmt))


def badges_of(session: Session, user_id: uuid.UUID) -> list[dict]:
    rows = session.scalars(
        select(Badge).where(Badge.user_id == user_id).order_by(Badge.awarded_at, Badge.badge)
    )
    return [
        {"badge": b.badge, "title": TITLES.get(b.badge, b.badge), "awarded_at": b.awarded_at}
        for b in rows
    ]
