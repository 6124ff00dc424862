"""Typo tolerance: unknown words replaced by the closest indexed word within the allowed
number of typos (Meilisearch's rule: none under 5 letters, 1 from 5, 2 from 9)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from lms.search.models import SearchTerm
from lms.search.text import Query, allowed_typos, typo_distance

MAX_WORDS = 6  # words corrected per query: each costs one candidate lookup


def corrections(session: Session, backend, query: Query) -> dict[str, str]:
    """{typed word: indexed word} for the query's words the index does not know."""
    typed = [
        term.words[0]
        for term in query.positive_terms
        if not term.phrase and allowed_typos(term.words[0]) > 0
    ][:MAX_WORDS]
    if not typed:
        return {}
    known = set(session.scalars(select(SearchTerm.term).where(SearchTerm.term.in_(typed))))
    fixes = {}
    for word in typed:
        if word in known:
            continue
        best = _closest(word, backend.typo_candidates(session, word))
        if best is not None:
            fixes[word] = best
    return fixes


def _closest(word: str, candidates: list[tuple[str, int]]) -> str | None:
    limit = allowed_typos(word)
    scored = [
        (distance, -documents, term)
        for term, documents in candidates
        if term != word and (distance := typo_distance(word, term)) <= limit
    ]
    return min(scored)[2] if scored else None
