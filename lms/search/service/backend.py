"""What differs between PostgreSQL full text and SQLite FTS5, behind one small interface.

Each backend turns a query tree into a "match" subquery of (id, rank) rows, makes
highlights for the rows of one page, and finds typo candidates. Everything else (filters,
facets, sorting, paging, access) is shared SQL in the service modules.
"""

from __future__ import annotations

import html
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    Text,
    and_,
    any_,
    case,
    false,
    func,
    literal,
    literal_column,
    null,
    or_,
    select,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import ARRAY, REGCONFIG, TSQUERY
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql import ClauseElement, Executable, Subquery
from sqlalchemy.sql.visitors import InternalTraversal

from lms.search import fts
from lms.search.dialect import is_postgres
from lms.search.models import SearchCourse, SearchLesson, SearchTerm
from lms.search.text import (
    MARK_END,
    MARK_START,
    SIMPLE,
    TEXT_CONFIGS,
    Query,
    Term,
    text_config,
    trigrams,
)

CANDIDATES = 40
# Type instances made once: each new one is adapted to the dialect and given a cache key
# again (a fifth of the Python calls of a search, when made per expression).
_TSQUERY, _REGCONFIG, _CONFIG_NAMES = TSQUERY(), REGCONFIG(), ARRAY(Text)
# Matches an estimated total is counted from (a standard error near 7%).
SAMPLED_MATCHES = 200
# Unfiltered matches read at most beside them (filters keeping a sixteenth or more).
UNFILTERED_SAMPLED = 16 * SAMPLED_MATCHES


@dataclass(frozen=True)
class Match:
    """How a query selects course documents: rows of `search_courses` (joined with `joined`
    on `course_id` when there is one) meeting `condition`, ranked by `rank` (higher first)."""

    joined: Subquery | None
    condition: ColumnElement[bool]
    rank: ColumnElement
    # Matches in the title: ranked before matches elsewhere, and few enough to fill a
    # first page from their own small index.
    tier: ColumnElement[bool] | None = None
    # Whether a tier match is a match too, so the tier alone selects (one index scan).
    tier_implies_match: bool = False

    def apply(self, statement: Select) -> Select:
        if self.joined is not None:
            statement = statement.join(
                self.joined, self.joined.c.course_id == SearchCourse.course_id
            )
        return statement.where(self.condition)


def render(marked: str | None) -> str | None:
    """Highlighted text as safe HTML: escaped, with `<mark>` around matches."""
    if marked is None:
        return None
    return html.escape(marked).replace(MARK_START, "<mark>").replace(MARK_END, "</mark>")


class Postgres:
    name = "POSTGRESQL"

    def __init__(self, configs: Iterable[str] | None = None) -> None:
        self.configs = sorted(set(configs or TEXT_CONFIGS.values()) | {SIMPLE})
        self._stems: dict[Query, Stems] = {}
        self._course_matches: dict[Query, Match] = {}
        # What the index looked like when first asked (see `index_version`).
        self.version: tuple | None = None

    def index_version(self, session: Session, query: Query) -> tuple | None:
        """The newest indexed document and the newest pending reindex request, read with
        the query's stems (no statement of its own): any index job or rebuild moves one
        of them, so counts cached under it are still the index's."""
        self._stemmed(session, query)
        return self.version

    # Each document is matched with the query stemmed in the document's own language: a
    # French course by the French stemmer, and so on. Languages that stem a query alike
    # ("python" is "python" in all of them) share one GIN scan. The query is stemmed by
    # the database, once per search, and the statements then carry tsquery literals: no
    # per-language expression tree is built or compiled in Python.

    def _stemmed(self, session: Session, query: Query) -> Stems:
        """The query as each language the index holds stems it, in one statement (with the
        index version and the completions of a word being typed)."""
        if query not in self._stems:
            sql = _TsquerySql()
            matching = sql.query(query)
            ranking = sql.any_of(query.positive_terms)
            rows = session.execute(
                text(_PG_STEMS.format(matching=matching, ranking=ranking)),
                {**sql.params, "configs": self.configs},
            ).all()
            newest, pending, languages = rows[0][3:]
            self.version = (newest, pending)
            indexed = {text_config(language) for language in languages}
            stems: dict[str, list[str]] = {}
            ranks: dict[str, list[str]] = {}
            for config, stem, rank, *_ in rows:
                if config in indexed:
                    stems.setdefault(stem, []).append(config)
                    ranks.setdefault(rank, []).append(config)
            self._stems[query] = Stems(list(stems.items()), list(ranks.items()))
        return self._stems[query]

    def _matches(self, session: Session, document, config_column, query: Query):
        return or_(
            false(),  # when the index holds no document at all
            *[
                _one_of(config_column, configs) & document.op("@@")(literal(stem, _TSQUERY))
                for stem, configs in self._stemmed(session, query).matching
            ],
        )

    def _rank(self, session: Session, document, config_column, query: Query) -> ColumnElement:
        # Every wanted term ORed: ts_rank then sums weights per term (title above text);
        # on an AND query it would favour terms close together over where they appear.
        ranking = _by_config(config_column, self._stemmed(session, query).ranking)
        return func.coalesce(func.ts_rank(document, ranking), 0.0)

    def course_match(self, session: Session, query: Query) -> Match:
        # Built once per query (the page and the counts use the same).
        if query not in self._course_matches:
            self._course_matches[query] = self._course_match(session, query)
        return self._course_matches[query]

    def _course_match(self, session: Session, query: Query) -> Match:
        # Conditions on `search_courses` itself: no join back to the table by id.
        c = SearchCourse
        return Match(
            None,
            self._matches(session, c.document, c.text_config, query),
            self._rank(session, c.document, c.text_config, query),
            self._matches(session, c.title_document, c.text_config, query),
            # The document starts with the title document: what the title matches, the
            # document matches, unless a word is excluded (it may be further on).
            tier_implies_match=not any(term.negated for c in query.clauses for term in c),
        )

    def _headlines(self, session: Session, model, texts, query: Query) -> list[ColumnElement]:
        q = _by_config(model.text_config, self._stemmed(session, query).matching)
        config = model.text_config.cast(_REGCONFIG)
        return [
            func.ts_headline(config, texts[0], q, _TITLE_OPTIONS),
            func.ts_headline(config, texts[1], q, _TEXT_OPTIONS),
        ]

    def highlight_columns(self, session: Session, query: Query) -> list[ColumnElement]:
        """`title_marked` and `text_marked` for a page's statement (`courses.page_of`): the
        page and its highlights in one statement, ts_headline on the page's rows only."""
        c = SearchCourse
        title, text_ = self._headlines(session, c, (c.title, c.description), query)
        return [title.label("title_marked"), text_.label("text_marked")]

    def course_highlights(self, session: Session, query: Query, rows: list) -> dict:
        """Highlights by course id, from the rows of a page (`highlight_columns`)."""
        return {row.course_id: (row.title_marked, row.text_marked) for row in rows}

    def lesson_match(self, session: Session, query: Query, readable: ColumnElement) -> Select:
        c = SearchLesson
        in_title = self._matches(session, c.title_document, c.text_config, query)
        in_body = self._matches(session, c.body_document, c.text_config, query)
        rank = self._rank(session, c.title_document, c.text_config, query) + self._rank(
            session, c.body_document, c.text_config, query
        )
        return select(c.lesson_id.label("lesson_id"), rank.label("rank")).where(
            in_title | (in_body & readable)
        )

    def lesson_highlights(
        self, session: Session, query: Query, ids: list[uuid.UUID]
    ) -> dict[uuid.UUID, tuple[str, str]]:
        c = SearchLesson
        marked = self._headlines(session, c, (c.title, c.body), query)
        statement = select(c.lesson_id, *marked).where(c.lesson_id.in_(ids))
        return {key: (title, text) for key, title, text in session.execute(statement)}

    def typo_candidates(self, session: Session, words: list[str]) -> dict[str, list]:
        """Indexed words like each typed word (the word itself too, when indexed)."""
        # pg_trgm's default threshold (0.3) misses a swapped pair in a six-letter word.
        session.execute(text("SELECT set_config('pg_trgm.similarity_threshold', '0.2', true)"))
        rows = session.execute(_PG_CANDIDATES, {"words": words, "limit": CANDIDATES})
        found: dict[str, list] = {}
        for word, term, documents in rows:
            found.setdefault(word, []).append((term, documents))
        return found

    def title_similarity(self, column: ColumnElement, typed: str) -> ColumnElement:
        return func.similarity(column, typed)

    def estimated_rows(self, session: Session, statement: Select) -> int:
        """How many rows `statement` selects, from a count in a random slice of the courses
        (their ids are random uuids), scaled up. The slice is sized by the planner's guess
        to hold about SAMPLED_MATCHES; when the guess was far too low, the count stops at
        four times that and a slice an eighth the size is counted instead."""
        return _sliced_count(session, statement, _planned_share(session, statement))

    def estimated_both(
        self, session: Session, matched: Select, conditions: list
    ) -> tuple[int, int]:
        """How many rows `matched` selects with the filters' `conditions` and without them,
        from one random slice (one index scan, not two: the filtered count reads the
        unfiltered matches of its slice anyway), sized by the planner for the filtered
        ones. A slice holding more than UNFILTERED_SAMPLED matches is counted again an
        eighth the size; when it then holds too few filtered matches to be precise (the
        filters keep little), they are counted on their own in a slice sized for them."""
        filtered = matched.where(*conditions)
        share = _planned_share(session, filtered)
        passes = and_(*conditions).label("passes")
        while True:
            bound = uuid.UUID(int=int(share * 2**128))
            sliced = (
                matched.add_columns(passes)
                .where(SearchCourse.course_id < bound)
                .limit(UNFILTERED_SAMPLED)
                .subquery("s")
            )
            found, everything = session.execute(
                select(func.count().filter(sliced.c.passes), func.count()).select_from(sliced)
            ).one()
            if everything < UNFILTERED_SAMPLED or share <= 2**-20:
                break
            share /= 8
        wider = min(1 / 2, share * SAMPLED_MATCHES / max(1, found))
        if found >= SAMPLED_MATCHES / 2 or wider <= share:
            return round(found / share), round(everything / share)
        return _sliced_count(session, filtered, wider), round(everything / share)


def _planned_share(session: Session, statement: Select) -> float:
    """The share of the courses expected to hold about SAMPLED_MATCHES of `statement`."""
    return min(1 / 2, max(2**-20, SAMPLED_MATCHES / max(1, _planned_rows(session, statement))))


def _sliced_count(session: Session, statement: Select, share: float) -> int:
    most = 4 * SAMPLED_MATCHES
    while True:
        bound = uuid.UUID(int=int(share * 2**128))
        sliced = statement.where(SearchCourse.course_id < bound).limit(most).subquery("s")
        found = session.scalar(select(func.count()).select_from(sliced)) or 0
        if found < most or share <= 2**-20:
            return round(found / share)
        share /= 8


def _planned_rows(session: Session, statement: Select) -> int:
    """The planner's estimate (no row read), from the statistics ANALYZE keeps."""
    plan = session.execute(_Explain(statement)).scalar()
    return int(plan[0]["Plan"]["Plan Rows"])


class _Explain(Executable, ClauseElement):
    """`EXPLAIN (FORMAT JSON) <statement>`, executed and cached like any statement: its
    compiled form is kept by the statement's shape (compiling it anew cost a millisecond
    of CPU per estimated search)."""

    _traverse_internals = [("statement", InternalTraversal.dp_clauseelement)]
    inherit_cache = True

    def __init__(self, statement: Select) -> None:
        self.statement = statement


@compiles(_Explain, "postgresql")
def _compile_explain(element: _Explain, compiler, **kw) -> str:
    # Nested, as INSERT ... SELECT nests its SELECT: the plan's one JSON column is the
    # result, not the SELECT's columns.
    compiler.stack.append({"correlate_froms": set(), "asfrom_froms": set(), "selectable": element})
    try:
        return "EXPLAIN (FORMAT JSON) " + compiler.process(element.statement, **kw)
    finally:
        compiler.stack.pop()


_PG_CANDIDATES = text(
    """
    SELECT typed.word, t.term, t.documents
    FROM unnest(CAST(:words AS text[])) AS typed(word)
    CROSS JOIN LATERAL (
        SELECT term, documents FROM search_terms
        WHERE term % typed.word
        ORDER BY similarity(term, typed.word) DESC
        LIMIT :limit
    ) t
    """
)


@dataclass(frozen=True)
class Stems:
    """A query as the index's languages stem it: (tsquery text, configs stemming it so)."""

    matching: list[tuple[str, list[str]]]
    ranking: list[tuple[str, list[str]]]  # every wanted term ORed


def _by_config(column, stems: list[tuple[str, list[str]]]) -> ColumnElement:
    """The stemmed tsquery for each row's language: a literal when all languages agree."""
    if not stems:  # the index holds no document
        return null().cast(_TSQUERY)
    if len(stems) == 1:
        return literal(stems[0][0]).cast(_TSQUERY)
    whens = [(_one_of(column, configs), literal(stem).cast(_TSQUERY)) for stem, configs in stems]
    return case(*whens)


def _one_of(config_column, configs: list[str]) -> ColumnElement[bool]:
    # One array parameter rather than an IN list, whose parameters are expanded again at
    # every execution (the planner reads both the same way).
    if len(configs) == 1:
        return config_column == configs[0]
    return config_column == any_(literal(configs, _CONFIG_NAMES))


class _TsquerySql:
    """A query tree as tsquery SQL over the configuration `cfg`, its words as parameters
    (never as tsquery syntax, except a typed word's `'word':*`, of \\w characters only)."""

    def __init__(self) -> None:
        self.params: dict[str, str] = {}

    def _param(self, value: str) -> str:
        name = f"w{len(self.params)}"
        self.params[name] = value
        return f":{name}"

    def _spelling(self, words: tuple[str, ...], prefix: bool) -> str:
        if len(words) > 1:
            return f"phraseto_tsquery(cfg, {self._param(' '.join(words))})"
        if prefix:
            # A word being typed matches its most used completions in the word table, each
            # a whole word (found by posting lists), rather than every indexed word it
            # starts (a GIN partial match merges all of them: 20,000 rows for "photograph"
            # cost 20-60 ms per statement). With no completion known, the prefix as typed.
            like = self._param(words[0].replace("_", "\\_") + "%")
            typed = self._param(f"'{words[0]}':*")
            return f"to_tsquery(cfg, coalesce(({_PG_COMPLETIONS.format(like=like)}), {typed}))"
        return f"plainto_tsquery(cfg, {self._param(words[0])})"

    def _term(self, term: Term) -> str:
        spellings = [self._spelling(term.words, term.prefix)]
        spellings += [self._spelling((word,), False) for word in term.corrections]
        return "(" + " || ".join(spellings) + ")"

    def any_of(self, terms: Iterable[Term]) -> str:
        return "(" + " || ".join(self._term(term) for term in terms) + ")"

    def query(self, query: Query) -> str:
        clauses = []
        for clause in query.clauses:
            either = self.any_of(clause)
            clauses.append(f"(!!{either})" if clause[0].negated else either)
        return " && ".join(clauses)


PREFIX_COMPLETIONS = 8
_PG_COMPLETIONS = f"""SELECT string_agg(quote_literal(term), ' | ') FROM (
    SELECT term FROM search_terms WHERE term LIKE {{like}}
    ORDER BY documents DESC, term LIMIT {PREFIX_COMPLETIONS}) completions"""
# One row per configuration; the index version and its languages are the same scalar
# subqueries (run once) in every row. The distinct languages come from one probe of the
# language index each (a loose index scan), not a scan of every document.
_PG_STEMS = """
SELECT c.config, CAST(({matching}) AS text), CAST(({ranking}) AS text),
    (SELECT max(indexed_at) FROM search_courses),
    (SELECT max(requested_at) FROM search_pending),
    ARRAY(
        WITH RECURSIVE found(language) AS (
            (SELECT language FROM search_courses ORDER BY language LIMIT 1)
            UNION ALL
            SELECT (SELECT s.language FROM search_courses s WHERE s.language > found.language
                    ORDER BY s.language LIMIT 1)
            FROM found WHERE found.language IS NOT NULL
        )
        SELECT language FROM found WHERE language IS NOT NULL
    )
FROM unnest(CAST(:configs AS text[])) AS c(config),
    LATERAL (SELECT CAST(c.config AS regconfig) AS cfg) r
"""
_MARKS = f'StartSel="{MARK_START}", StopSel="{MARK_END}"'
_TITLE_OPTIONS = f"HighlightAll=true, {_MARKS}"
_TEXT_OPTIONS = f'MaxWords=30, MinWords=12, MaxFragments=2, FragmentDelimiter=" … ", {_MARKS}'


class Sqlite:
    name = "SQLITE_FTS5"

    def course_match(self, session: Session, query: Query) -> Match:
        fts.ensure(session)
        matched = (
            select(
                literal_column("course_id").label("course_id"),
                literal_column(f"-{fts.COURSE_RANK}").label("rank"),
            )
            .select_from(text("search_courses_fts"))
            .where(
                text("search_courses_fts MATCH :course_match").bindparams(
                    course_match=fts.match_expression(query)
                )
            )
        ).subquery("m")
        return Match(matched, true(), matched.c.rank)

    def highlight_columns(self, session: Session, query: Query) -> list:
        return []  # FTS5's highlight() needs the MATCH row: see `course_highlights`

    def course_highlights(
        self, session: Session, query: Query, rows: list
    ) -> dict[uuid.UUID, tuple[str, str]]:
        ids = [row.course_id for row in rows]
        if not ids:
            return {}
        marked = session.execute(
            text(
                f"""SELECT course_id,
                       highlight(search_courses_fts, 1, '{MARK_START}', '{MARK_END}'),
                       snippet(search_courses_fts, 3, '{MARK_START}', '{MARK_END}', ' … ', 24)
                FROM search_courses_fts
                WHERE search_courses_fts MATCH :m AND course_id IN ({_keys(ids)})"""
            ),
            {"m": fts.match_expression(query)},
        )
        return {uuid.UUID(key): (title, description) for key, title, description in marked}

    def lesson_match(self, session: Session, query: Query, readable: ColumnElement) -> Select:
        fts.ensure(session)

        def matching(column: str):
            return (
                select(literal_column("lesson_id"))
                .select_from(text("search_lessons_fts"))
                .where(
                    text(f"search_lessons_fts MATCH :lesson_{column}").bindparams(
                        **{f"lesson_{column}": fts.match_expression(query, column)}
                    )
                )
            )

        in_title = SearchLesson.lesson_id.in_(matching("title"))
        in_body = SearchLesson.lesson_id.in_(matching("body"))
        # bm25 needs the MATCH row itself; title hits first, then by position in the course.
        rank = func.iif(in_title, 1.0, 0.5)
        return select(SearchLesson.lesson_id.label("lesson_id"), rank.label("rank")).where(
            in_title | (in_body & readable)
        )

    def lesson_highlights(
        self, session: Session, query: Query, ids: list[uuid.UUID]
    ) -> dict[uuid.UUID, tuple[str, str]]:
        if not ids:
            return {}
        expression = fts.match_expression(query, None)
        rows = session.execute(
            text(
                f"""SELECT lesson_id,
                       highlight(search_lessons_fts, 2, '{MARK_START}', '{MARK_END}'),
                       snippet(search_lessons_fts, 3, '{MARK_START}', '{MARK_END}', ' … ', 24)
                FROM search_lessons_fts
                WHERE search_lessons_fts MATCH :m AND lesson_id IN ({_keys(ids)})"""
            ),
            {"m": expression},
        )
        found = {uuid.UUID(key): (title, body) for key, title, body in rows}
        # A lesson found by its title alone may not match the whole expression in one row.
        plain = session.execute(
            select(SearchLesson.lesson_id, SearchLesson.title, SearchLesson.body).where(
                SearchLesson.lesson_id.in_([key for key in ids if key not in found])
            )
        )
        for key, title, body in plain:
            found[key] = (title, body[:200])
        return found

    def typo_candidates(self, session: Session, words: list[str]) -> dict[str, list]:
        return {word: self._candidates(session, word) for word in words}

    def _candidates(self, session: Session, word: str) -> list[tuple[str, int]]:
        # Trigram overlap, as pg_trgm counts it, over the (embedded-sized) word table.
        grams = trigrams(word)
        padded = literal("  ") + SearchTerm.term + literal(" ")
        shared = sum((func.instr(padded, gram) > 0).cast(Integer) for gram in grams)
        rows = session.execute(
            select(SearchTerm.term, SearchTerm.documents)
            .where(
                func.length(SearchTerm.term).between(len(word) - 2, len(word) + 2),
                shared >= 2,
            )
            .order_by(shared.desc())
            .limit(CANDIDATES)
        )
        return [(term, documents) for term, documents in rows]

    def title_similarity(self, column: ColumnElement, typed: str) -> ColumnElement:
        return -func.length(column)  # shorter titles first: closest to what was typed

    def index_version(self, session: Session, query: Query) -> None:
        return None  # counts are exact here (see `estimated_rows`): nothing is cached

    def estimated_rows(self, session: Session, statement: Select) -> int:
        # An embedded catalog is small enough to count.
        return session.scalar(select(func.count()).select_from(statement.subquery())) or 0

    def estimated_both(
        self, session: Session, matched: Select, conditions: list
    ) -> tuple[int, int]:
        filtered = matched.where(*conditions)
        return self.estimated_rows(session, filtered), self.estimated_rows(session, matched)


def _keys(ids: list[uuid.UUID]) -> str:
    return ", ".join(f"'{key.hex}'" for key in ids)  # uuids: hex digits only


def backend_for(session: Session) -> Postgres | Sqlite:
    # Every language's stemming even under a language filter: the language facet counts
    # the matches in the other languages too (multi-select), the filter only narrows.
    return Postgres() if is_postgres(session) else Sqlite()
