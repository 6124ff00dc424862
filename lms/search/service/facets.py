"""Filters and facets of course search.

Every facet is multi-select: its counts are computed with every *other* selected filter
applied, so choosing "Beginner" still shows how many intermediate courses there are. All
facets come from one statement: the first window of matched rows once (a CTE with a LIMIT),
then a GROUP BY per facet (`counting` says when the window is a sample).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, case, func, literal, select, tuple_, union_all
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


def rating_step(rating: ColumnElement) -> ColumnElement:
    """The highest step a rating reaches (none below the lowest): counted per step, then
    summed from the top, as the facet shows "4.0 and up"."""
    return case(*[(rating >= step, str(step)) for step in RATING_STEPS])


def facet_statement(
    match, filters: Filters, wanted: list[str], limit: int, *, grouping_sets: bool = False
) -> Select:
    """(facet, value, count) rows for the `wanted` facets, ("", "", n) for the matches every
    filter keeps and, when a facet has a filter of its own, ("#", "", n) for the matches
    no filter narrows, each over at most `limit` matched rows (LIMIT inside the CTEs: the
    database stops reading matches there).

    A facet no filter of its own narrows is counted over the filtered matches; a facet with
    a selected filter over the unfiltered ones, every *other* filter applied (multi-select).
    With `grouping_sets` (PostgreSQL) the facets of the filtered matches are counted in one
    pass (`GROUP BY GROUPING SETS`) rather than one scan of the window each.
    """
    c = SearchCourse
    matched = match.apply(
        select(
            c.category,
            c.difficulty,
            c.language,
            c.price_amount,
            c.rating_average,
            c.duration_seconds,
            # Each facet's value as a column: grouped by name, not by an expression.
            price_bucket(c.price_amount).label("price"),
            duration_bucket(c.duration_seconds).label("duration"),
            rating_step(c.rating_average).label("rating"),
        )
    )
    filtered = matched.where(*filters.every(c.__table__.c)).limit(limit).cte("filtered")
    free = [facet for facet in wanted if not filters.constrains(facet)]
    parts = [_grouped(filtered, free) if grouping_sets else _counted_rows(filtered)]
    if not grouping_sets:
        parts += [_facet_counts(filtered, facet, []) for facet in free]
    constrained = [facet for facet in wanted if filters.constrains(facet)]
    if constrained:
        unfiltered = matched.limit(limit).cte("unfiltered")
        conditions = filters.conditions(unfiltered.c)
        parts.append(select(literal("#"), literal(""), func.count()).select_from(unfiltered))
        for facet in constrained:
            others = [cond for name, conds in conditions.items() if name != facet for cond in conds]
            parts.append(_facet_counts(unfiltered, facet, others))
    return union_all(*parts)


def _counted_rows(cte) -> Select:
    return select(literal(""), literal(""), func.count()).select_from(cte)


def _facet_counts(cte, facet: str, others: list) -> Select:
    value = cte.c[facet]
    return (
        select(literal(facet), value, func.count())
        .select_from(cte)
        .where(value.is_not(None), *others)
        .group_by(value)
    )


def _grouped(cte, facets: list[str]) -> Select:
    """The rows' count and each facet's counts in one pass: a grouping set per facet and
    one for the whole window. GROUPING() says which set a row belongs to (its bit is 0)."""
    if not facets:
        return _counted_rows(cte)
    columns = [cte.c[facet] for facet in facets]
    every = 2 ** len(columns) - 1
    which = func.grouping(*columns)
    masks = {every ^ (1 << (len(facets) - 1 - i)): facet for i, facet in enumerate(facets)}
    name = case(masks, value=which, else_="")
    value = func.coalesce(*columns) if len(columns) > 1 else columns[0]
    sets = func.grouping_sets(*[tuple_(column) for column in columns], tuple_())
    return select(name, value, func.count()).select_from(cte).group_by(sets)


def facet_results(rows, filters: Filters, wanted: list[str]) -> tuple[list[dict], int, int]:
    """The facets, in the order asked for; the matches every filter keeps; the matches no
    filter narrows (both as counted, up to the statement's limit)."""
    buckets: dict[str, list[dict]] = {name: [] for name in wanted}
    passing, unfiltered = 0, None
    for facet, value, count in rows:
        if facet == "":
            passing = count
        elif facet == "#":
            unfiltered = count
        elif count and value is not None:  # a course with no category has no bucket
            buckets[facet].append({"value": str(value), "count": count})
    ordered = []
    for name in wanted:
        found = buckets[name]
        if name == "rating":  # counted per step: "4.0 and up" holds the steps above it too
            own = {b["value"]: b["count"] for b in found}
            found, above = [], 0
            for step in RATING_STEPS:
                above += own.get(str(step), 0)
                if above:
                    found.append({"value": str(step), "count": above})
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
    # No facet with a filter of its own: the unfiltered matches were not counted apart.
    return ordered, passing, passing if unfiltered is None else unfiltered
