"""Typo tolerance: words of the query matched with indexed words within the allowed number
of typos (Meilisearch's rule: none under 5 letters, 1 from 5, 2 from 9), tried when exact
matching finds too little.

A word the index does not know is replaced by its closest indexed word (what "did you
mean" shows); a word it knows also gets its closest neighbour as an alternative, since a
typo can make another real word ("modal" for "model")."""

from __future__ import annotations

from sqlalchemy.orm import Session

from lms.search.text import Query, allowed_typos, typo_distance

MAX_WORDS = 6  # words corrected per query


def corrections(session: Session, backend, query: Query) -> tuple[dict[str, str], dict[str, str]]:
    """({typed word: alternative spelling}, {typed word: replacement shown to the user})."""
    typed = list(
        dict.fromkeys(
            term.words[0]
            for term in query.positive_terms
            if not term.phrase and allowed_typos(term.words[0]) > 0
        )
    )[:MAX_WORDS]
    if not typed:
        return {}, {}
    candidates = backend.typo_candidates(session, typed)
    alternatives, shown = {}, {}
    for word in typed:
        found = candidates.get(word, [])
        best = _closest(word, found)
        if best is None:
            continue
        alternatives[word] = best
        if not any(term == word for term, _ in found):  # unknown: a correction
            shown[word] = best
    return alternatives, shown


def _closest(word: str, candidates: list[tuple[str, int]]) -> str | None:
    limit = allowed_typos(word)
    scored = [
        (distance, -documents, term)
        for term, documents in candidates
        if term != word and (distance := typo_distance(word, term)) <= limit
    ]
    return min(scored)[2] if scored else None
