"""SQLite FTS5 tables of the embedded default: the index, bm25 ranking and highlights.

The FTS5 tables are derived data, created on first use rather than by a migration: a
virtual table brings shadow tables that the schema comparison (models vs migrations)
would report, and they can always be rebuilt from `search_courses`/`search_lessons`.
The porter stemmer and `remove_diacritics 2` give English stemming and accent-insensitive
matching; prefix indexes make as-you-type prefixes cheap.
"""

from __future__ import annotations

import uuid

from sqlalchemy import text
from sqlalchemy.orm import Session

from lms.search.text import Query, Term

TOKENIZE = "porter unicode61 remove_diacritics 2"
_DDL = (
    f"""CREATE VIRTUAL TABLE IF NOT EXISTS search_courses_fts USING fts5(
        course_id UNINDEXED, title, tags, description, outline,
        tokenize = '{TOKENIZE}', prefix = '2 3')""",
    f"""CREATE VIRTUAL TABLE IF NOT EXISTS search_lessons_fts USING fts5(
        lesson_id UNINDEXED, course_id UNINDEXED, title, body,
        tokenize = '{TOKENIZE}', prefix = '2 3')""",
)
# bm25 column weights: title, tags and category, description, outline (course_id: none).
COURSE_RANK = "bm25(search_courses_fts, 0.0, 10.0, 5.0, 2.0, 1.0)"
LESSON_RANK = "bm25(search_lessons_fts, 0.0, 0.0, 10.0, 2.0)"


def ensure(session: Session) -> None:
    for statement in _DDL:
        session.execute(text(statement))


def _key(value: uuid.UUID) -> str:
    return value.hex  # how SQLAlchemy stores UUIDs on SQLite, so joins compare equal


def remove_course(session: Session, course_id: uuid.UUID) -> None:
    ensure(session)
    key = _key(course_id)
    session.execute(text("DELETE FROM search_courses_fts WHERE course_id = :id"), {"id": key})
    session.execute(text("DELETE FROM search_lessons_fts WHERE course_id = :id"), {"id": key})


def store_course(session: Session, row: dict, outline: str, lessons: list[dict]) -> None:
    remove_course(session, row["course_id"])
    session.execute(
        text(
            "INSERT INTO search_courses_fts (course_id, title, tags, description, outline) "
            "VALUES (:course_id, :title, :tags, :description, :outline)"
        ),
        {
            "course_id": _key(row["course_id"]),
            "title": row["title"],
            "tags": f"{row['tags']} {row['category'] or ''}",
            "description": row["description"],
            "outline": outline,
        },
    )
    if lessons:
        session.execute(
            text(
                "INSERT INTO search_lessons_fts (lesson_id, course_id, title, body) "
                "VALUES (:lesson_id, :course_id, :title, :body)"
            ),
            [
                {
                    "lesson_id": _key(lesson["lesson_id"]),
                    "course_id": _key(lesson["course_id"]),
                    "title": lesson["title"],
                    "body": lesson["body"],
                }
                for lesson in lessons
            ],
        )


def _quoted(word: str) -> str:
    return '"' + word.replace('"', '""') + '"'


def _term(term: Term) -> str:
    if term.phrase:
        return _quoted(" ".join(term.words))
    spellings = [_quoted(term.words[0]) + ("*" if term.prefix else "")]
    spellings += [_quoted(word) for word in term.corrections]
    return spellings[0] if len(spellings) == 1 else "(" + " OR ".join(spellings) + ")"


def match_expression(query: Query, column: str | None = None) -> str:
    """An FTS5 MATCH expression; every word is quoted, so nothing typed is syntax."""
    positive, negative = [], []
    for clause in query.clauses:
        if clause[0].negated:
            negative.append(_term(clause[0]))
        else:
            positive.append("(" + " OR ".join(_term(term) for term in clause) + ")")
    expression = " AND ".join(positive)
    for excluded in negative:
        expression = f"({expression}) NOT {excluded}"
    return f"{{{column}}} : ({expression})" if column else expression
