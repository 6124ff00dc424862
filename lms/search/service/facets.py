"""Filters and facets of course search.

Every facet is multi-select: its counts are computed with every *other* selected filter
applied, so choosing "Beginner" still shows how many intermediate courses there are. All
facets come from one statement: the first window of matched rows once (a CTE with a LIMIT),
then a GROUP BY per facet (`counting` says when the window is a sample).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, case, func, literal, select, union_all
from sqlalchemy.sql import ColumnCollection

from lms.sanitize import plain_text
from lms.search import errors
from lms.search.models import SearchCourse

FACETS = ("category", "difficulty", "price", "rating", "language", "duration")
RATING_STEPS = (4.5, 4.0, 3.5, 3.0)
# Upper bounds in seconds, as course catalogs bucket video length.
DURATIONS = (
    ("UNDER_1H", 3600),
    ("ONE_TO_3H", 3 * 3600),
    ("THREE_TO_6H", 6 * 3600),
    ("SIX_TO_17H", 17 * 3600),
    ("OVER_17H", None),
)
MAX_VALUES = 20  # per facet and per filter list
TOP_BUCKETS = 20


def duration_bucket(seconds: ColumnElement) -> ColumnElement:
    whens = [(seconds < limit, name) for name, limit in DURATIONS if limit is not None]
    return case(*whens, else_=DURATIONS[-1][0])


def price_bucket(amount: ColumnElement) -> ColumnElement:
    return case((amount == 0, "FREE"), else_="PAID")


@dataclass(frozen=True)
class Filters:
    values: dict[str, list[str]]  # facet → selected values (multi-select facets)
    min_price: int | None = None
    max_price: int | None = None
    min_rating: float | None = None

    def conditions(self, c: ColumnCollection) -> dict[str, list[ColumnElement[bool]]]:
        """Conditions per facet over columns named as in `search_courses`."""
        found: dict[str, list[ColumnElement[bool]]] = {name: [] for name in FACETS}
        columns = {
            "category": lambda: c.category,
            "difficulty": lambda: c.difficulty,
            "language": lambda: c.language,
            "price": lambda: price_bucket(c.price_amount),
            "duration": lambda: duration_bucket(c.duration_seconds),
        }
        for name, selected in self.values.items():  # buckets built only when filtered on
            found[name].append(columns[name]().in_(selected))
        if self.min_price is not None:
            found["price"].append(c.price_amount >= self.min_price)
        if self.max_price is not None:
            found["price"].append(c.price_amount <= self.max_price)
        if self.min_rating is not None:
            found["rating"].append(c.rating_average >= self.min_rating)
        return found

    def constrains(self, facet: str) -> bool:
        """Whether a selected filter narrows this facet's own values."""
        if facet == "price":
            return bool(self.values.get("price")) or {self.min_price, self.max_price} != {None}
        if facet == "rating":
            return self.min_rating is not None
        return bool(self.values.get(facet))

    def every(self, c: ColumnCollection) -> list[ColumnElement[bool]]:
        return [cond for conds in self.conditions(c).values() for cond in conds]

    def selected(self, facet: str) -> set[str]:
        if facet == "rating":
            return {str(self.min_rating)} if self.min_rating is not None else set()
        return set(self.values.get(facet, []))


def _strings(raw: list | None, field: str) -> list[str]:
    if not raw:
        return []
    if len(raw) > MAX_VALUES:
        raise errors.invalid_filter(field, f"{field} takes at most {MAX_VALUES} values")
    values = [plain_text(str(value))[:80] for value in raw]
    return [value for value in values if value]


def checked_filters(raw: dict[str, Any] | None) -> Filters:
    raw = raw or {}
    values = {
        "category": _strings(raw.get("category"), "category"),
        "difficulty": _strings(raw.get("difficulty"), "difficulty"),
        "language": [v.lower() for v in _strings(raw.get("language"), "language")],
        "price": _strings(raw.get("price"), "price"),
        "duration": _strings(raw.get("duration"), "duration"),
    }
    low, high = raw.get("min_price"), raw.get("max_price")
    if (low is not None and low < 0) or (high is not None and high < 0):
        raise errors.invalid_filter("minPrice", "prices are not negative")
    if low is not None and high is not None and low > high:
        raise errors.invalid_filter("minPrice", "minPrice is above maxPrice")
    rating = raw.get("min_rating")
    if rating is not None and not 0 <= rating <= 5:
        raise errors.invalid_filter("minRating", "minRating is 0 to 5")
    return Filters({k: v for k, v in values.items() if v}, low, high, rating)


def checked_facets(include: bool | None, names: list[str] | None) -> list[str]:
    if names:
        for name in names:
            if name not in FACETS:
                raise errors.unknown_facet(name, list(FACETS))
        return [name for name in FACETS if name in names]
    return list(FACETS) if include else []


def facet_statement(match, filters: Filters, wanted: list[str], limit: int) -> Select:
    """(facet, value, count) rows for the `wanted` facets, ("", "", n) for the matches every
    filter keeps and ("#", "", n) for the matches no filter narrows, each over at most
    `limit` matched rows (LIMIT inside the CTEs: the database stops reading matches there).

    A facet no filter of its own narrows is counted over the filtered matches; a facet with
    a selected filter over the unfiltered ones, every *other* filter applied (multi-select).
    """
    c = SearchCourse
    columns = (c.category, c.difficulty, c.language, c.price_amount, c.rating_average)
    matched = match.apply(select(*columns, c.duration_seconds))
    filtered = matched.where(*filters.every(c.__table__.c)).limit(limit).cte("filtered")
    unfiltered = filtered
    if any(filters.constrains(facet) for facet in wanted):
        unfiltered = matched.limit(limit).cte("unfiltered")
    conditions = filters.conditions(unfiltered.c)

    def source(facet: str) -> tuple:
        """The rows a facet is counted over, and the conditions still to apply to them."""
        if not filters.constrains(facet):
            return filtered, []
        return unfiltered, [
            cond for name, conds in conditions.items() if name != facet for cond in conds
        ]

    parts = [
        select(literal(""), literal(""), func.count()).select_from(filtered),
        select(literal("#"), literal(""), func.count()).select_from(unfiltered),
    ]
    for facet in wanted:
        cte, others = source(facet)
        if facet == "rating":
            for step in RATING_STEPS:
                parts.append(
                    select(literal("rating"), literal(str(step)), func.count())
                    .select_from(cte)
                    .where(cte.c.rating_average >= step, *others)
                )
            continue
        value = {
            "price": price_bucket(cte.c.price_amount),
            "duration": duration_bucket(cte.c.duration_seconds),
        }.get(facet, cte.c.get(facet))
        parts.append(
            select(literal(facet), value, func.count())
            .select_from(cte)
            .where(value.is_not(None), *others)
            .group_by(value)
        )
    return union_all(*parts)


def facet_results(rows, filters: Filters, wanted: list[str]) -> tuple[list[dict], int, int]:
    """The facets, in the order asked for; the matches every filter keeps; the matches no
    filter narrows (both as counted, up to the statement's limit)."""
    buckets: dict[str, list[dict]] = {name: [] for name in wanted}
    passing = unfiltered = 0
    for facet, value, count in rows:
        if facet == "":
            passing = count
        elif facet == "#":
            unfiltered = count
        elif count:
            buckets[facet].append({"value": str(value), "count": count})
    ordered = []
    for name in wanted:
        found = buckets[name]
        if name == "rating":
            found.sort(key=lambda b: -float(b["value"]))
        elif name == "duration":
            order = [n for n, _ in DURATIONS]
            found.sort(key=lambda b: order.index(b["value"]))
        else:
            found.sort(key=lambda b: (-b["count"], b["value"]))
            found = found[:TOP_BUCKETS]
        selected = filters.selected(name)
        ordered.append(
            {
                "name": name,
                "buckets": [{**b, "selected": b["value"] in selected} for b in found],
            }
        )
    return ordered, passing, unfiltered
