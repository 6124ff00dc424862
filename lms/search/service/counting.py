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
  SQLite catalog is small enough to count;
- estimates are kept (in this process) for the same query, filters and facets while the
  index's version stays (`index_version`: the newest indexed document and the newest
  reindex request) and for at most `CACHED_SECONDS` (a removed course moves neither), as
  search engines cache popular queries. Exact counts are never kept: they stay cheap
  (a window at most) and exact.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from sqlalchemy import Select, func, literal, select
from sqlalchemy.orm import Session

from lms.search.models import SearchCourse
from lms.search.service.facets import Filters, facet_results, facet_statement
from lms.search.text import Query


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
    query: Query | None = None,
) -> Counts:
    """The total (`known_total` when the page already showed it) and the `wanted` facets."""
    if known_total is not None and not wanted:
        return Counts(known_total, True, [], True)
    version = None if query is None else backend.index_version(session, query)
    key = None if version is None else (version, query, _filters_key(filters), window, *wanted)
    kept = _ESTIMATES.get(key) if key is not None else None
    if kept is None:
        kept = _counted(session, backend, match, filters, wanted, window, known_total)
        if key is not None and not (kept.total_is_exact and kept.facets_are_exact):
            _ESTIMATES.put(key, kept)
    if known_total is not None:  # exact, whatever was kept
        return Counts(known_total, True, kept.facets, kept.facets_are_exact)
    return kept


def _counted(session, backend, match, filters, wanted, window, known_total) -> Counts:
    conditions = filters.every(SearchCourse.__table__.c)
    matched = match.apply(select(literal(1)).select_from(SearchCourse))
    facets, unfiltered = [], 0
    if wanted:
        statement = facet_statement(
            match, filters, wanted, window + 1, grouping_sets=backend.name == "POSTGRESQL"
        )
        rows = session.execute(statement)
        facets, passing, unfiltered = facet_results(rows, filters, wanted)
    elif known_total is None:
        passing = _capped_count(session, matched.where(*conditions), window)
    else:
        passing = known_total

    total, exact = passing, passing <= window
    everything = None  # the matches no filter narrows, when estimated
    if known_total is not None:
        total, exact = known_total, True
    elif not exact and conditions and unfiltered > window:  # both past: one slice for both
        total, everything = backend.estimated_both(session, matched, conditions)
        total = max(window + 1, total)
    elif not exact:  # past the window, as counting showed
        total = max(window + 1, backend.estimated_rows(session, matched.where(*conditions)))

    # A window that filled up holds a sample of the matches: scale its counts to the total.
    scales = {}
    if passing > window:
        scales[False] = total / passing
    if unfiltered > window:
        if everything is None:
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


def _filters_key(filters: Filters) -> tuple:
    values = tuple(sorted((name, tuple(sorted(v))) for name, v in filters.values.items()))
    return (values, filters.min_price, filters.max_price, filters.min_rating)


CACHED_SECONDS = 60.0
CACHED_SEARCHES = 4096


class _Kept:
    """Estimated counts by key, the least recently used dropped past CACHED_SEARCHES."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # resolvers run service calls on worker threads
        self._items: OrderedDict[tuple, tuple[float, Counts]] = OrderedDict()

    def get(self, key: tuple) -> Counts | None:
        with self._lock:
            found = self._items.get(key)
            if found is None or time.monotonic() - found[0] > CACHED_SECONDS:
                self._items.pop(key, None)
                return None
            self._items.move_to_end(key)
            return found[1]

    def put(self, key: tuple, counts: Counts) -> None:
        with self._lock:
            self._items[key] = (time.monotonic(), counts)
            self._items.move_to_end(key)
            while len(self._items) > CACHED_SEARCHES:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


_ESTIMATES = _Kept()
