"""How many courses match, and the facet counts: exact up to a window, estimated beyond it.

Counting every match of a broad word (a fifth of the catalog) costs a visit to each matching
row; search engines stop counting at a window and estimate the rest (Meilisearch's
`estimatedTotalHits`, Elasticsearch's `track_total_hits`). Here, too:

- the total is counted exactly while it stays within `exact_count_up_to` (the count stops
  at one more than the window), else it is an estimate above the window;
- facets are counted over the first window of matches (the filtered ones, or for a facet
  with a selected filter of its own the unfiltered ones, as multi-select facets need); a
  window that filled up holds a sample, whose counts are scaled to the (estimated) number
  of matches and flagged as estimates;
- estimates come from the backend: on PostgreSQL a count in a random slice of the courses
  sized by the planner's statistics to hold about 200 matches, scaled up; the embedded
  SQLite catalog is small enough to count.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, func, literal, select
from sqlalchemy.orm import Session

from lms.search.models import SearchCourse
from lms.search.service.facets import Filters, facet_results, facet_statement


@dataclass(frozen=True)
class Counts:
    total: int
    total_is_exact: bool
    facets: list[dict]
    facets_are_exact: bool


def count_matches(
    session: Session,
    backend,
    match,
    filters: Filters,
    wanted: list[str],
    window: int,
    known_total: int | None = None,
) -> Counts:
    """The total (`known_total` when the page already showed it) and the `wanted` facets."""
    conditions = filters.every(SearchCourse.__table__.c)
    matched = match.apply(select(literal(1)).select_from(SearchCourse))
    facets, unfiltered = [], 0
    if wanted:
        rows = session.execute(facet_statement(match, filters, wanted, window + 1))
        facets, passing, unfiltered = facet_results(rows, filters, wanted)
    elif known_total is None:
        passing = _capped_count(session, matched.where(*conditions), window)
    else:
        passing = known_total

    total, exact = passing, passing <= window
    if known_total is not None:
        total, exact = known_total, True
    elif not exact:  # past the window, as counting showed
        total = max(window + 1, backend.estimated_rows(session, matched.where(*conditions)))

    # A window that filled up holds a sample of the matches: scale its counts to the total.
    scales = {}
    if passing > window:
        scales[False] = total / passing
    if unfiltered > window:
        everything = total if not conditions else backend.estimated_rows(session, matched)
        scales[True] = max(window + 1, everything) / unfiltered
    sampled = {f["name"] for f in facets if filters.constrains(f["name"]) in scales}
    facets = [
        _scaled(f, scales[filters.constrains(f["name"])]) if f["name"] in sampled else f
        for f in facets
    ]
    return Counts(total, exact, facets, not sampled)


def _capped_count(session: Session, statement: Select, window: int) -> int:
    """How many rows `statement` selects, counting no further than `window + 1`."""
    capped = statement.limit(window + 1).subquery("capped")
    return session.scalar(select(func.count()).select_from(capped)) or 0


def _scaled(facet: dict, scale: float) -> dict:
    buckets = [{**b, "count": round(b["count"] * scale)} for b in facet["buckets"]]
    return {**facet, "buckets": buckets}
