"""Text handling both backends share: normalization, words, and the query language.

Queries follow `websearch_to_tsquery`'s syntax: words are ANDed, `"quoted phrases"`,
`-word` or `-"phrase"` excludes, `or` between two terms makes either match. We parse it
ourselves into a small tree, so no user input ever reaches a database parser as syntax
(unbalanced quotes and operator soup simply lose their meaning) and the same tree becomes
a tsquery on PostgreSQL and an FTS5 expression on SQLite.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field, replace

WORD = re.compile(r"\w+", re.UNICODE)
# Highlight sentinels: printable, never in indexed text (stripped there), escaped after.
MARK_START, MARK_END = "\u27e6", "\u27e7"

# The course's language picks the stemmer; anything else is indexed word by word. The
# PostgreSQL configurations `lyceum_<name>` (made by the search migration) run `unaccent`
# before the stemmer, so `brulee` finds `brûlée` and `ts_headline` marks the accented word.
STEMMERS = {
    "en": "english",
    "fr": "french",
    "de": "german",
    "es": "spanish",
    "it": "italian",
    "pt": "portuguese",
    "nl": "dutch",
    "sv": "swedish",
    "ru": "russian",
}
TEXT_CONFIGS = {code: f"lyceum_{name}" for code, name in STEMMERS.items()}
SIMPLE = "lyceum_simple"


def text_config(language: str | None) -> str:
    return TEXT_CONFIGS.get((language or "").split("-")[0].lower(), SIMPLE)


def normalize(text: str) -> str:
    """Lowercase without accents: `Café Crème` → `cafe creme`."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return stripped.lower().replace(MARK_START, " ").replace(MARK_END, " ")


def words(text: str) -> list[str]:
    return WORD.findall(normalize(text))


def clean(text: str) -> str:
    """Indexed text: without the highlight sentinels."""
    return (text or "").replace(MARK_START, " ").replace(MARK_END, " ")


@dataclass(frozen=True)
class Term:
    words: tuple[str, ...]  # normalized; more than one for a phrase
    negated: bool = False
    prefix: bool = False  # the last word typed, still being completed
    corrections: tuple[str, ...] = ()  # typo-corrected spellings of a single word

    @property
    def phrase(self) -> bool:
        return len(self.words) > 1


@dataclass(frozen=True)
class Query:
    """Clauses are ANDed; the terms of a clause are ORed."""

    clauses: tuple[tuple[Term, ...], ...] = field(default_factory=tuple)

    @property
    def positive_terms(self) -> list[Term]:
        return [term for clause in self.clauses for term in clause if not term.negated]

    def with_corrections(self, fixes: dict[str, str]) -> Query:
        def fix(term: Term) -> Term:
            word = term.words[0]
            if term.phrase or term.negated or word not in fixes:
                return term
            return replace(term, corrections=(fixes[word],))

        return Query(tuple(tuple(fix(term) for term in clause) for clause in self.clauses))

    def corrected_text(self, shown: dict[str, str]) -> str:
        """The query as typed with `shown` replacements (the typos it fixed)."""
        parts = []
        for clause in self.clauses:
            shown_terms = []
            for term in clause:
                text = " ".join(shown.get(word, word) for word in term.words)
                text = f'"{text}"' if term.phrase else text
                shown_terms.append(("-" if term.negated else "") + text)
            parts.append(" or ".join(shown_terms))
        return " ".join(parts)


_TOKEN = re.compile(r'(-?)"([^"]*)"?|(-?)([^\s"]+)')


def parse(raw: str, *, prefix: bool = True) -> Query:
    """The query tree of what a user typed; `prefix` lets the last word match as a prefix."""
    terms: list[Term | str] = []
    for match in _TOKEN.finditer(raw):
        negated = bool(match.group(1) or match.group(3))
        if match.group(2) is not None or match.group(0).startswith(('"', '-"')):
            found = tuple(words(match.group(2) or ""))
        else:
            token = match.group(4)
            if token.lower() == "or" and not negated:
                terms.append("or")
                continue
            found = tuple(words(token))
            if len(found) > 1:  # "e-mail", "c++/java": each word must appear
                terms.extend(Term((word,), negated) for word in found)
                continue
        if found:
            terms.append(Term(found, negated))
    # The last word is a prefix while it is being typed (no space or quote after it).
    if prefix and terms and isinstance(terms[-1], Term) and raw and not raw[-1].isspace():
        last = terms[-1]
        if not last.phrase and not last.negated and not raw.rstrip().endswith('"'):
            terms[-1] = replace(last, prefix=True)
    clauses: list[list[Term]] = []
    join_next = False
    for item in terms:
        if item == "or":
            join_next = bool(clauses)
            continue
        if join_next and not item.negated and not any(t.negated for t in clauses[-1]):
            clauses[-1].append(item)
        else:
            clauses.append([item])
        join_next = False
    return Query(tuple(tuple(clause) for clause in clauses))


def allowed_typos(word: str) -> int:
    """Meilisearch's rule: no typo under 5 letters, 1 from 5, 2 from 9."""
    return 0 if len(word) < 5 else 1 if len(word) < 9 else 2


def typo_distance(a: str, b: str) -> int:
    """Edits between two words, a swap of neighbours counting as one (optimal string
    alignment), as people count typos."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[-1]


def trigrams(word: str) -> list[str]:
    padded = f"  {word} "
    return sorted({padded[i : i + 3] for i in range(len(padded) - 2)})
