"""Search latency at catalog scale: `searchCourses` through the GraphQL API against the same
SQL run directly, in the same run.

    .venv/bin/python loadtests/bench_search.py [--courses 100000] [--lessons 10]
        [--queries 1000] [--database NAME --keep]

It creates its own PostgreSQL database and RabbitMQ vhost, migrates, generates `--courses`
published courses (titles and descriptions from word lists in five languages, categories,
levels, prices, ratings) with `--lessons` lessons each, builds the index with the set-based
rebuild (`python -m lms.search rebuild`), starts `lms serve`, then sends `--queries`
queries one at a time:

- single words, "quoted phrases", prefixes (a word and the start of the next, as typed),
  and typos (the content words of one course's title with one typo in a word of 5+
  letters: swap, drop, double or replace a letter);
- every other query asks for all facets, one in five also filters (level, free, language).

For each query the same service call is first made in this process with its SQL captured,
that SQL is replayed on a plain psycopg connection (`raw_sql_*`: the database's own time
for the statements one search runs), then the query goes through the API (`p50_ms`,
`p95_ms`: what a client sees, with HTTP, GraphQL and the query log write); pairing them
query by query lets both see the same load on a shared machine. The baseline, in the same
run, query by query: the same search counting every match exactly (`exact_count_sql_*`,
what the service did before counting stopped at `LMS_SEARCH_EXACT_COUNT_UP_TO`), whose totals
also give `estimate_error_*` (|estimate - exact| / exact, over the `estimated_totals`
searches past the window) and `facet_error_*` (per facet, summed |estimate - exact| over
its buckets / its exact sum, averaged over the facets; over the `estimated_facets`
searches). Estimates are kept per query while the index is unchanged, so a repeated query
may skip counting: `p95_ms_first_seen` is over each query's first time. `typo_recall` is the share
of typo queries whose intended course (or one with the very same title: generated titles
repeat) is among the first 10 hits; typo queries are filtered only by their course's own
language. Nothing is asserted; the last line is JSON.
`--keep` leaves the database for another run with `--database NAME` (no regeneration).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # also runnable as `python loadtests/bench_search.py`
    sys.path.insert(0, str(ROOT))

from loadtests.environment import (
    PG_ADMIN_URL,
    admin_sql,
    isolated_broker_url,
    rabbitmqctl,
    release,
    use_environment,
    wait_until_healthy,
)

SEARCH = """query($q: String!, $filters: SearchFilters, $facets: Boolean) {
  searchCourses(query: $q, filters: $filters, includeFacets: $facets,
                pagination: {pageSize: 10}) {
    totalCount correctedQuery
    hits { courseId title score highlights { title text } }
    facets { name buckets { value count } }
  }
}"""


# Titles: "<level word> <topic> <noun> for <audience>" per language; descriptions and
# lesson texts from the language's general words.
def _w(text: str) -> list[str]:
    return text.split()


WORDS = {
    "en": {
        "lead": _w(
            "practical complete modern essential advanced hands-on applied intensive "
            "professional beginner"
        ),
        "topic": _w(
            "python javascript kubernetes photography accounting marketing statistics "
            "gardening woodworking astronomy chemistry calligraphy negotiation leadership "
            "typescript databases networking cybersecurity watercolor guitar piano cooking "
            "baking nutrition psychology economics algebra geometry calculus physics biology "
            "genetics robotics electronics blockchain animation illustration journalism "
            "copywriting sociology philosophy linguistics spanish mandarin architecture "
            "ceramics sculpture meditation yoga investing bookkeeping logistics"
        ),
        "noun": _w(
            "fundamentals masterclass bootcamp workshop essentials techniques projects "
            "strategies principles patterns foundations toolkit roadmap handbook"
        ),
        "audience": _w(
            "beginners engineers managers students designers entrepreneurs teachers "
            "nurses developers analysts researchers writers parents artists"
        ),
        "text": _w(
            "learn build understand practice explore create improve design analyse "
            "measure apply master review compare organise project exercise example "
            "workflow method skill concept problem solution result feedback session "
            "chapter hands data model system process quality team client market"
        ),
    },
    "fr": {
        "lead": _w("pratique complet moderne essentiel avancé appliqué intensif"),
        "topic": _w(
            "cuisine pâtisserie photographie comptabilité jardinage menuiserie "
            "astronomie chimie calligraphie négociation philosophie économie géométrie "
            "littérature céramique aquarelle œnologie boulangerie"
        ),
        "noun": _w("fondamentaux atelier méthodes techniques principes stratégies"),
        "audience": _w("débutants ingénieurs étudiants enseignants artistes"),
        "text": _w(
            "apprendre créer comprendre pratiquer améliorer réussir méthode exercice "
            "crème brûlée sauce levain projet résultat séance chapitre équipe qualité"
        ),
    },
    "de": {
        "lead": _w("praktisch vollständig modern fortgeschritten angewandt intensiv"),
        "topic": _w(
            "fotografie buchhaltung gartenbau holzarbeiten astronomie chemie "
            "kalligrafie verhandlung führung programmierung elektronik backen"
        ),
        "noun": _w("grundlagen meisterkurs werkstatt techniken prinzipien strategien"),
        "audience": _w("anfänger ingenieure studenten lehrer künstler"),
        "text": _w(
            "lernen bauen verstehen üben verbessern gestalten methode übung "
            "beispiel ergebnis sitzung kapitel qualität größe straße"
        ),
    },
    "es": {
        "lead": _w("práctico completo moderno esencial avanzado aplicado intensivo"),
        "topic": _w(
            "fotografía contabilidad jardinería carpintería astronomía química "
            "caligrafía negociación liderazgo programación cocina repostería"
        ),
        "noun": _w("fundamentos taller técnicas principios estrategias proyectos"),
        "audience": _w("principiantes ingenieros estudiantes profesores artistas"),
        "text": _w(
            "aprender construir entender practicar mejorar diseñar método ejercicio "
            "ejemplo resultado sesión capítulo calidad niño corazón"
        ),
    },
    "pt": {
        "lead": _w("prático completo moderno essencial avançado aplicado intensivo"),
        "topic": _w(
            "fotografia contabilidade jardinagem marcenaria astronomia química "
            "caligrafia negociação liderança programação culinária confeitaria"
        ),
        "noun": _w("fundamentos oficina técnicas princípios estratégias projetos"),
        "audience": _w("iniciantes engenheiros estudantes professores artistas"),
        "text": _w(
            "aprender construir entender praticar melhorar criar método exercício "
            "exemplo resultado sessão capítulo qualidade coração ação"
        ),
    },
}
LANGUAGE_SHARE = [("en", 0.6), ("fr", 0.1), ("de", 0.1), ("es", 0.1), ("pt", 0.1)]
CONNECTORS = {"en": "for", "fr": "pour", "de": "für", "es": "para", "pt": "para"}
CATEGORIES = _w(
    "programming data-science design business music cooking languages science art "
    "photography health finance marketing devops writing"
)


EVERY_MATCH = 10**6  # an exact-count window past any catalog here: the old behaviour


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- data ------------------------------------------------------------------------------

_GENERATE = """
CREATE FUNCTION pg_temp.pick(words text[]) RETURNS text LANGUAGE sql VOLATILE AS
  $$ SELECT words[1 + floor(random() * array_length(words, 1))::int] $$;
CREATE FUNCTION pg_temp.phrase(words text[], n int) RETURNS text LANGUAGE sql VOLATILE AS
  $$ SELECT string_agg(pg_temp.pick(words), ' ') FROM generate_series(1, n) $$;
"""


def generate(conninfo: str, courses: int, lessons: int, owner: uuid.UUID) -> None:
    """Courses, one module each and `lessons` lessons per course, written by PostgreSQL
    itself (set-based INSERTs: minutes, not hours, for 100,000 courses)."""
    import psycopg

    with psycopg.connect(conninfo, autocommit=True) as db:
        db.execute("SELECT setseed(0.42)")
        db.execute(_GENERATE)
        start = 0
        for language, share in LANGUAGE_SHARE:
            count = round(courses * share) if language != "pt" else courses - start
            w = WORDS[language]
            db.execute(
                """
                INSERT INTO courses (id, slug, title, description, category, difficulty,
                    language, status, price_amount, currency, owner_id, cover_version,
                    cover_variants, enrollment_count, rating_average, rating_count,
                    created_at, updated_at, published_at)
                SELECT gen_random_uuid(), 'bench-' || g,
                    initcap(pg_temp.pick(%(lead)s::text[])) || ' '
                        || initcap(pg_temp.pick(%(topic)s::text[]))
                        || ' ' || initcap(pg_temp.pick(%(noun)s::text[])) || ' ' || %(connector)s
                        || ' ' || initcap(pg_temp.pick(%(audience)s::text[])),
                    '<p>' || pg_temp.phrase(%(text)s::text[] || %(topic)s::text[], 30) || '</p>',
                    (%(categories)s::text[])[1 + g %% %(ncat)s::int],
                    (ARRAY['BEGINNER', 'INTERMEDIATE', 'ADVANCED'])[1 + g %% 3],
                    %(language)s, 'PUBLISHED',
                    CASE WHEN g %% 4 = 0 THEN 0 ELSE (g %% 20) * 500 + 900 END, 'USD',
                    %(owner)s, 0, '[]', (g * 37) %% 5000, round((2.5 + random() * 2.5)::numeric,
                    2), g %% 200, now() - (g %% 1000) * interval '1 hour', now(),
                    now() - (g %% 1000) * interval '1 hour'
                FROM generate_series(%(first)s::int, %(last)s::int) g
                """,
                {
                    **w,
                    "connector": CONNECTORS[language],
                    "categories": CATEGORIES,
                    "ncat": len(CATEGORIES),
                    "language": language,
                    "owner": owner,
                    "first": start,
                    "last": start + count - 1,
                },
            )
            start += count
        db.execute(
            """
            INSERT INTO course_modules (id, course_id, title, description, position,
                created_at, updated_at)
            SELECT gen_random_uuid(), id, 'Module 1', '', 0, now(), now() FROM courses
            """
        )
        db.execute(
            "INSERT INTO course_tags (course_id, tag) SELECT id, lower(split_part(title, ' ', 2))"
            " FROM courses"
        )
        for language in WORDS:
            db.execute(
                """
                INSERT INTO lessons (id, module_id, course_id, title, type, content,
                    duration_seconds, is_free_preview, requires_previous, position,
                    created_at, updated_at)
                SELECT gen_random_uuid(), m.id, m.course_id,
                    initcap(pg_temp.phrase(%(text)s::text[], 3)), 'TEXT',
                    '<p>' || pg_temp.phrase(%(text)s::text[], 20) || '</p>',
                    300 + (random() * 3000)::int, n = 0, false, n, now(), now()
                FROM course_modules m JOIN courses c ON c.id = m.course_id,
                     generate_series(0, %(lessons)s::int - 1) n
                WHERE c.language = %(language)s
                """,
                {"text": WORDS[language]["text"], "lessons": lessons, "language": language},
            )
        db.execute("ANALYZE")


# --- queries ---------------------------------------------------------------------------


def typo(word: str, rng: random.Random) -> str:
    """One typo, as people make them."""
    i = rng.randrange(1, len(word) - 1)
    kind = rng.choice(["swap", "drop", "double", "replace"])
    if kind == "swap":
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if kind == "drop":
        return word[:i] + word[i + 1 :]
    if kind == "double":
        return word[:i] + word[i] + word[i:]
    letters = "aeioustrnl"
    return word[:i] + rng.choice([c for c in letters if c != word[i]]) + word[i + 1 :]


def make_queries(sample: list[tuple[str, str, str]], count: int, seed: int = 7) -> list[dict]:
    """(course id, title, language) samples → the query mix (typos name their title)."""
    rng = random.Random(seed)
    queries = []
    for n in range(count):
        _course_id, title, language = sample[n % len(sample)]
        words = title.lower().split()
        content = [w for w in words if w != CONNECTORS[language]]
        kind = ["word", "phrase", "prefix", "typo", "typo", "word", "prefix", "phrase"][n % 8]
        intended = None
        if kind == "word":
            text = rng.choice(WORDS[language]["topic"])
        elif kind == "phrase":
            i = rng.randrange(0, 2)
            text = f'"{content[i]} {content[i + 1]}"'
        elif kind == "prefix":
            text = f"{content[1]} {content[2][: rng.randint(3, 5)]}"
        else:
            # A typo the rules forgive: the typed word keeps 5+ letters (none allowed below).
            long = [i for i, w in enumerate(content) if len(w) >= 6]
            i = rng.choice(long) if long else 0
            typed = [typo(w, rng) if j == i and len(w) >= 6 else w for j, w in enumerate(content)]
            text, intended = " ".join(typed), title
        filters = None
        if intended:  # a filter the intended course passes (others might hide it)
            filters = {"language": [language]} if n % 5 == 4 else None
        elif n % 5 == 4:
            filters = rng.choice(
                [{"difficulty": ["BEGINNER"]}, {"price": ["FREE"]}, {"language": [language]}]
            )
        queries.append(
            {"kind": kind, "q": text, "facets": n % 2 == 0, "filters": filters, "want": intended}
        )
    return queries


# --- measuring -------------------------------------------------------------------------


def captured_sql(query: dict, exact_up_to: int | None = None) -> tuple[list[tuple[str, dict]], Any]:
    """The statements one `searchCourses` runs, from the service itself, and its result;
    `exact_up_to` sets how many matches are counted exactly (default: the setting's)."""
    from sqlalchemy import event

    from lms.db import session_scope
    from lms.search.service import search_courses
    from lms.search.settings import search_settings
    from lms.security import ANONYMOUS

    statements: list[tuple[str, dict]] = []
    if exact_up_to is not None:
        os.environ["LMS_SEARCH_EXACT_COUNT_UP_TO"] = str(exact_up_to)
    search_settings.cache_clear()
    with session_scope() as session:
        engine = session.get_bind()

        def capture(_conn, _cursor, statement, parameters, _context, _many):
            statements.append((statement, parameters))

        event.listen(engine, "before_cursor_execute", capture)
        try:
            result = search_courses(
                session,
                ANONYMOUS,
                query=query["q"],
                filters=query["filters"],  # the same keys in both spellings
                pagination={"page_size": 10},
                include_facets=query["facets"],
            )
        finally:
            event.remove(engine, "before_cursor_execute", capture)
            os.environ.pop("LMS_SEARCH_EXACT_COUNT_UP_TO", None)
            search_settings.cache_clear()
    return statements, result


def replayed_ms(db, statements: list[tuple[str, dict]]) -> float:
    started = time.perf_counter()
    with db.transaction():
        for statement, parameters in statements:
            db.execute(statement, parameters).fetchall()
    return (time.perf_counter() - started) * 1000


def run(args: argparse.Namespace) -> dict:
    import httpx
    import psycopg
    from sqlalchemy import text as sql

    from lms.db import session_scope
    from lms.migrate import upgrade
    from lms.search import indexing
    from lms.users.models import Role, User

    conninfo = os.environ["LMS_DATABASE_URL"]
    figures: dict = {}
    have = 0
    if args.keep:
        with psycopg.connect(conninfo, autocommit=True) as db:
            if db.execute("SELECT to_regclass('search_courses')").fetchone()[0]:
                have = db.execute("SELECT count(*) FROM search_courses").fetchone()[0]
    upgrade()  # a kept catalog gets this branch's migrations too
    if not have:
        with session_scope() as session:
            owner = User(
                email=f"bench-{uuid.uuid4().hex[:8]}@example.test", name="Bench", role=Role.EDUCATOR
            )
            session.add(owner)
            session.flush()
            owner_id = owner.id
        started = time.perf_counter()
        generate(conninfo, args.courses, args.lessons, owner_id)
        figures["generate_s"] = round(time.perf_counter() - started, 1)
        started = time.perf_counter()
        with session_scope() as session:
            indexing.rebuild(session)
        indexing.vacuum()  # as the rebuild job and command do
        with psycopg.connect(conninfo, autocommit=True) as db:
            db.execute("ANALYZE")
        figures["index_s"] = round(time.perf_counter() - started, 1)
    with session_scope() as session:
        courses = session.execute(sql("SELECT count(*) FROM search_courses")).scalar()
        lessons = session.execute(sql("SELECT count(*) FROM search_lessons")).scalar()
        sample = [
            (str(r[0]), r[1], r[2])
            for r in session.execute(
                sql(
                    "SELECT course_id, title, language FROM search_courses "
                    "ORDER BY md5(course_id::text) LIMIT 500"
                )
            )
        ]
    queries = make_queries(sample, args.queries)
    print(f"{courses} courses, {lessons} lessons indexed; {len(queries)} queries", flush=True)

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "lyceum.cli", "serve", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    raw_ms, api_ms, hits_found, typos, by_kind = [], [], 0, 0, {}
    exact_ms, estimate_errors, estimated = [], [], 0
    facet_errors, seen, first_seen_ms = [], set(), []
    try:
        if not wait_until_healthy(url, alive=lambda: server.poll() is None):
            raise SystemExit("the API did not start")
        with (
            httpx.Client(base_url=url, timeout=30) as client,
            psycopg.connect(conninfo, autocommit=True) as db,
        ):
            for query in queries[:20]:  # warm-up: connections, plan caches
                client.post("/graphql", json={"query": SEARCH, "variables": _vars(query)})
            # Each query directly and through the API, one after the other: both figures
            # see the same load on this shared machine.
            for query in queries:
                statements, windowed = captured_sql(query)
                raw_ms.append(replayed_ms(db, statements))
                # The baseline: the same search counting every match exactly.
                statements, exact = captured_sql(query, exact_up_to=EVERY_MATCH)
                exact_ms.append(replayed_ms(db, statements))
                if not windowed.total_count_is_exact:
                    estimated += 1
                    error = abs(windowed.total_count - exact.total_count) / exact.total_count
                    estimate_errors.append(error)
                if not windowed.facet_counts_are_exact:
                    facet_errors.append(facet_error(windowed.facets, exact.facets))
                started = time.perf_counter()
                response = client.post(
                    "/graphql", json={"query": SEARCH, "variables": _vars(query)}
                )
                elapsed = (time.perf_counter() - started) * 1000
                body = response.json()
                if response.status_code != 200 or body.get("errors"):
                    raise SystemExit(f"query {query['q']!r} failed: {body}")
                api_ms.append(elapsed)
                asked = json.dumps([query["q"], query["filters"], query["facets"]])
                if asked not in seen:  # estimates are kept per query: a repeat may reuse them
                    seen.add(asked)
                    first_seen_ms.append(elapsed)
                by_kind.setdefault(query["kind"], []).append(elapsed)
                if query["want"]:
                    # Courses with the very same title are the same answer to a reader.
                    typos += 1
                    found = [hit["title"] for hit in body["data"]["searchCourses"]["hits"]]
                    hits_found += query["want"] in found
    finally:
        server.terminate()
        server.wait(timeout=30)
    p95, raw_p95 = percentile(api_ms, 0.95), percentile(raw_ms, 0.95)
    exact_p95 = percentile(exact_ms, 0.95)
    figures.update(
        {
            "courses": courses,
            "lessons": lessons,
            "queries": len(queries),
            "p50_ms": round(percentile(api_ms, 0.5), 2),
            "p95_ms": round(p95, 2),
            "raw_sql_p50_ms": round(percentile(raw_ms, 0.5), 2),
            "raw_sql_p95_ms": round(raw_p95, 2),
            "api_over_sql_p95": round(p95 / raw_p95, 2) if raw_p95 else None,
            "typo_recall": round(hits_found / typos, 3) if typos else None,
            "exact_count_sql_p50_ms": round(percentile(exact_ms, 0.5), 2),
            "exact_count_sql_p95_ms": round(exact_p95, 2),
            "raw_sql_over_exact_count_sql_p95": round(raw_p95 / exact_p95, 2)
            if exact_p95
            else None,
            "estimated_totals": estimated,
            "estimate_error_p50": round(percentile(estimate_errors, 0.5), 3),
            "estimate_error_p95": round(percentile(estimate_errors, 0.95), 3),
            "first_seen_queries": len(first_seen_ms),
            "p95_ms_first_seen": round(percentile(first_seen_ms, 0.95), 2),
            "estimated_facets": len(facet_errors),
            "facet_error_p50": round(percentile(facet_errors, 0.5), 3),
            "facet_error_p95": round(percentile(facet_errors, 0.95), 3),
            "p95_ms_by_kind": {k: round(percentile(v, 0.95), 2) for k, v in by_kind.items()},
        }
    )
    return figures


def facet_error(estimated: list[dict], exact: list[dict]) -> float:
    """How far estimated facet counts are from the exact ones: per facet the summed
    |estimate - exact| over its buckets relative to its exact sum, averaged over facets."""
    truth = {f["name"]: {b["value"]: b["count"] for b in f["buckets"]} for f in exact}
    errors = []
    for facet in estimated:
        counts = {b["value"]: b["count"] for b in facet["buckets"]}
        wanted = truth.get(facet["name"], {})
        keys = set(counts) | set(wanted)
        off = sum(abs(counts.get(k, 0) - wanted.get(k, 0)) for k in keys)
        errors.append(off / max(1, sum(wanted.values())))
    return sum(errors) / len(errors) if errors else 0.0


def _vars(query: dict) -> dict:
    filters = query["filters"]
    return {"q": query["q"], "facets": query["facets"], "filters": filters}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--courses", type=int, default=100_000)
    parser.add_argument("--lessons", type=int, default=10, help="lessons per course")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--database", default=f"lyceum_bench_search_{os.getpid()}")
    parser.add_argument("--keep", action="store_true", help="keep (and reuse) the database")
    args = parser.parse_args(argv)
    var_dir = Path(tempfile.mkdtemp(prefix="lyceum-bench-search-"))
    vhost = f"bench_search_{os.getpid()}"
    broker_url, own_vhost = isolated_broker_url(vhost)
    use_environment(var_dir, broker_url, args.database)
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as db:
        exists = db.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (args.database,)
        ).fetchone()
    if not exists:
        admin_sql(f'CREATE DATABASE "{args.database}"')
    elif not args.keep:
        raise SystemExit(f"database {args.database} exists; add --keep to reuse it")
    try:
        with open("/proc/loadavg") as load:
            print("load average at start:", load.read().strip(), flush=True)
        figures = run(args)
    finally:
        if args.keep:  # everything but the database
            shutil.rmtree(var_dir, ignore_errors=True)
            if own_vhost:
                rabbitmqctl("delete_vhost", vhost)
        else:
            release(args.database, vhost, own_vhost, var_dir)
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
