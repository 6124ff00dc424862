"""Course and lesson search behaviour, on PostgreSQL full text and on SQLite FTS5 alike."""

from __future__ import annotations

import uuid

import pytest

from lms.enrollments.models import Enrollment
from lms.errors import LmsError
from lms.search import service
from lms.search.settings import search_settings
from lms.security import ANONYMOUS, Viewer
from lms.users.models import Role
from tests.search.catalog import MARKER, add_user

MARKER_ID = uuid.uuid4()


def search(catalog, query, viewer=ANONYMOUS, **arguments):
    with catalog.session() as session:
        return service.search_courses(session, viewer, query=query, **arguments)


def titles(result) -> list[str]:
    return [hit.document.title for hit in result.hits]


def code_of(catalog, fn, **arguments) -> str:
    with pytest.raises(LmsError) as raised, catalog.session() as session:
        fn(session, ANONYMOUS, **arguments)
    return raised.value.code


def test_title_matches_rank_first_and_drafts_are_never_found(catalog):
    found = titles(search(catalog, f"python {MARKER}"))
    assert found[0] == "Python for Data Analysis"  # in the title, not only in tags and text
    assert "Machine Learning Foundations" in found
    assert "Python Secrets Draft" not in found


def test_accents_do_not_matter_either_way(catalog):
    assert titles(search(catalog, "creme brulee")) == ["Cuisine française : les bases"]
    assert titles(search(catalog, "CRÈME Brûlée")) == ["Cuisine française : les bases"]


def test_phrases_exclusions_and_or(catalog):
    assert titles(search(catalog, f'"machine learning" {MARKER}')) == [
        "Machine Learning Foundations"
    ]
    assert titles(search(catalog, f"python -pandas {MARKER}")) == ["Machine Learning Foundations"]
    either = titles(search(catalog, f"kubernetes or photography {MARKER}"))
    assert sorted(either) == ["Advanced Kubernetes Operations", "Photography Composition"]


def test_the_last_word_matches_as_a_prefix_while_typing(catalog):
    assert titles(search(catalog, "kubern")) == ["Advanced Kubernetes Operations"]
    assert titles(search(catalog, "kubern ")) == []  # a finished word is a whole word


@pytest.mark.parametrize(
    ("typed", "title", "corrected"),
    [
        ("kubernetse", "Advanced Kubernetes Operations", "kubernetes"),  # swap: one typo
        ("photograpyh composition", "Photography Composition", "photography composition"),
        ("mashine learning", "Machine Learning Foundations", "machine learning"),
        ("clsuters", "Advanced Kubernetes Operations", "clusters"),
    ],
)
def test_typos_are_forgiven_and_reported(catalog, typed, title, corrected):
    result = search(catalog, typed + " ")
    assert title in titles(result)
    assert result.corrected_query == corrected


def test_no_typo_is_allowed_in_words_under_five_letters(catalog):
    result = search(catalog, "dtaa ")  # "data" with a swap: four letters, no typo allowed
    assert result.total_count == 0 and result.corrected_query is None


def test_highlights_mark_the_matched_words_on_the_page(catalog):
    hit = search(catalog, "data analysis pandas").hits[0]
    assert hit.title_html == "Python for <mark>Data</mark> <mark>Analysis</mark>"
    assert "<mark>pandas</mark>" in hit.description_html
    french = search(catalog, "creme brulee").hits[0]  # accents kept, matched without them
    assert "la <mark>crème</mark> <mark>brûlée</mark>, les" in french.description_html


def test_facets_are_multi_select(catalog):
    result = search(catalog, MARKER, filters={"difficulty": ["BEGINNER"]}, include_facets=True)
    assert sorted(titles(result)) == [
        "Cuisine française : les bases",
        "Photography Composition",
        "Python for Data Analysis",
    ]
    facets = {
        f["name"]: {b["value"]: (b["count"], b["selected"]) for b in f["buckets"]}
        for f in result.facets
    }
    # The difficulty facet ignores its own filter: the other levels stay selectable.
    assert facets["difficulty"] == {
        "BEGINNER": (3, True),
        "INTERMEDIATE": (1, False),
        "ADVANCED": (1, False),
    }
    assert facets["category"] == {
        "art": (1, False),
        "cooking": (1, False),
        "data-science": (1, False),
    }
    assert facets["price"] == {"FREE": (2, False), "PAID": (1, False)}
    assert facets["rating"] == {
        "4.5": (2, False),
        "4.0": (3, False),
        "3.5": (3, False),
        "3.0": (3, False),
    }
    assert facets["language"] == {"en": (2, False), "fr": (1, False)}
    assert facets["duration"] == {"UNDER_1H": (3, False)}


def test_the_language_facet_ignores_the_language_filter(catalog):
    # Choosing French still shows how many English courses match: multi-select.
    result = search(catalog, MARKER, filters={"language": ["fr"]}, include_facets=True)
    assert titles(result) == ["Cuisine française : les bases"]
    languages = {f["name"]: f for f in result.facets}["language"]["buckets"]
    assert {b["value"]: (b["count"], b["selected"]) for b in languages} == {
        "en": (4, False),
        "fr": (1, True),
    }


def test_filters_combine_and_facets_can_be_chosen(catalog):
    result = search(
        catalog,
        MARKER,
        filters={"category": ["data-science", "devops"], "price": ["PAID"], "min_rating": 4.0},
        facets=["price"],
    )
    assert titles(result) == ["Advanced Kubernetes Operations"]
    assert [f["name"] for f in result.facets] == ["price"]
    price = {b["value"]: b["count"] for b in result.facets[0]["buckets"]}
    assert price == {"FREE": 1, "PAID": 1}  # pandas (free) and kubernetes, rating >= 4


@pytest.fixture
def exact_up_to(monkeypatch):
    """Sets how many matches are counted exactly (`LMS_SEARCH_EXACT_COUNT_UP_TO`)."""

    def setting(limit: int) -> None:
        monkeypatch.setenv("LMS_SEARCH_EXACT_COUNT_UP_TO", str(limit))
        search_settings.cache_clear()

    yield setting
    monkeypatch.delenv("LMS_SEARCH_EXACT_COUNT_UP_TO")
    search_settings.cache_clear()


def buckets(result) -> dict[str, dict[str, int]]:
    return {f["name"]: {b["value"]: b["count"] for b in f["buckets"]} for f in result.facets}


def test_matches_past_the_exact_count_are_an_estimate_flagged_as_such(catalog, exact_up_to):
    # A full page sorted by a value: the total is not known from it (ranking by relevance
    # reads every match of a word found outside titles, and counts them on the way).
    first_two = {"pagination": {"page_size": 2}, "sort": "RATING"}
    exact_up_to(3)
    broad = search(catalog, MARKER, include_facets=True, **first_two)
    assert len(broad.hits) == 2 and broad.has_next_page
    assert broad.total_count > 3 and not broad.total_count_is_exact
    assert not broad.facet_counts_are_exact
    # Estimated facets stay in the estimate's scale (up to rounding per bucket).
    levels = buckets(broad)["difficulty"]
    assert abs(sum(levels.values()) - broad.total_count) <= len(levels)
    # Ranking by relevance a word found outside titles reads every match: counted exactly.
    ranked = search(catalog, MARKER, pagination={"page_size": 2})
    assert (ranked.total_count, ranked.total_count_is_exact) == (5, True)
    # A page that shows the last match tells the exact total, whatever the window.
    assert search(catalog, MARKER).total_count_is_exact
    assert search(catalog, MARKER).total_count == 5

    exact_up_to(5)
    within = search(catalog, MARKER, include_facets=True, **first_two)
    assert (within.total_count, within.total_count_is_exact) == (5, True)
    assert within.facet_counts_are_exact
    assert buckets(within)["difficulty"] == {"BEGINNER": 3, "INTERMEDIATE": 1, "ADVANCED": 1}


def test_filtered_counts_below_the_window_stay_exact(catalog, exact_up_to):
    exact_up_to(3)  # 5 courses match, 3 of them for beginners
    beginners = search(
        catalog,
        MARKER,
        filters={"difficulty": ["BEGINNER"]},
        pagination={"page_size": 2},
        sort="RATING",
        include_facets=True,
    )
    assert (beginners.total_count, beginners.total_count_is_exact) == (3, True)
    facets = buckets(beginners)
    # Facets no filter of their own narrows count the 3 beginner courses, exactly...
    assert facets["price"] == {"FREE": 2, "PAID": 1}
    assert facets["language"] == {"en": 2, "fr": 1}
    assert sum(facets["category"].values()) == 3
    # ...the difficulty facet ignores its filter: all 5 matches, past the window, estimated.
    assert not beginners.facet_counts_are_exact
    assert sum(facets["difficulty"].values()) > 3
    selected = [b["value"] for f in beginners.facets for b in f["buckets"] if b["selected"]]
    assert selected == ["BEGINNER"]

    exact_up_to(2)  # now the filtered matches pass the window too
    two_levels = {"difficulty": ["BEGINNER", "ADVANCED"]}
    past = search(catalog, MARKER, filters=two_levels, pagination={"page_size": 1}, sort="NEWEST")
    assert past.total_count > 2 and not past.total_count_is_exact


def test_filtered_facets_past_both_windows_are_estimated_from_one_slice(catalog, exact_up_to):
    from sqlalchemy import event

    exact_up_to(2)  # 4 of the 5 matches pass the filter: both windows fill up
    statements: list[str] = []
    with catalog.session() as session:
        engine = session.get_bind()
        record = lambda *args: statements.append(args[2])  # noqa: E731
        event.listen(engine, "before_cursor_execute", record)
        try:
            past = service.search_courses(
                session,
                ANONYMOUS,
                query=MARKER,
                filters={"difficulty": ["BEGINNER", "ADVANCED"]},
                pagination={"page_size": 1},
                sort="NEWEST",
                include_facets=True,
            )
        finally:
            event.remove(engine, "before_cursor_execute", record)
    assert past.total_count > 2 and not past.total_count_is_exact
    assert not past.facet_counts_are_exact
    # The difficulty facet ignores its own filter: its levels together never hold fewer
    # courses than the filtered total (up to rounding per bucket).
    levels = buckets(past)["difficulty"]
    assert sum(levels.values()) + len(levels) >= past.total_count
    if catalog.settings.database_url.startswith("postgresql"):
        # One planner estimate and one slice count both totals.
        assert sum(s.startswith("EXPLAIN") for s in statements) == 1
        assert sum("course_id < " in s for s in statements) == 1


def test_relevance_pages_run_through_title_matches_then_the_rest(catalog):
    from sqlalchemy import update

    from lms.courses.models import Course, CourseStatus
    from lms.search import indexing
    from tests.search.catalog import Spec, add_course

    word = "tier" + uuid.uuid4().hex[:8]
    specs = [Spec(f"{word} {topic}", "A course.", "art") for topic in ("one", "two", "three")]
    specs += [Spec(f"Plain {topic}", f"Mentions {word} inside.", "art") for topic in ("a", "b")]
    added = []

    def index(course_ids) -> None:
        for course_id in course_ids:
            with catalog.session() as session:
                indexing.index_course(session, course_id)

    def ids(result) -> list:
        return [hit.document.course_id for hit in result.hits]

    try:
        for spec in specs:
            with catalog.session() as session:
                added.append(add_course(session, catalog.owner_id, spec).id)
        index(added)
        everything = search(catalog, word, pagination={"page_size": 5})
        assert sorted(titles(everything)[:3]) == sorted(spec.title for spec in specs[:3])
        pages = [search(catalog, word, pagination={"page": n, "page_size": 2}) for n in (1, 2, 3)]
        assert [hit for page in pages for hit in ids(page)] == ids(everything)
        assert [page.total_count for page in pages] == [5, 5, 5]
    finally:  # the module's other tests count the catalog's own courses
        with catalog.session() as session:
            session.execute(
                update(Course).where(Course.id.in_(added)).values(status=CourseStatus.ARCHIVED)
            )
        index(added)


@pytest.mark.parametrize(
    ("sort", "first"),
    [
        ("PRICE_LOW_TO_HIGH", {"Python for Data Analysis", "Cuisine française : les bases"}),
        ("PRICE_HIGH_TO_LOW", {"Advanced Kubernetes Operations"}),
        ("RATING", {"Cuisine française : les bases"}),
        ("POPULARITY", {"Machine Learning Foundations"}),
        ("NEWEST", {"Photography Composition"}),
    ],
)
def test_sorts(catalog, sort, first):
    assert titles(search(catalog, MARKER, sort=sort))[0] in first


def test_pages(catalog):
    first = search(catalog, MARKER, pagination={"page": 1, "page_size": 2}, sort="RATING")
    second = search(catalog, MARKER, pagination={"page": 2, "page_size": 2}, sort="RATING")
    last = search(catalog, MARKER, pagination={"page": 3, "page_size": 2}, sort="RATING")
    assert first.total_count == second.total_count == last.total_count == 5
    assert first.has_next_page and second.has_next_page and not last.has_next_page
    assert len(set(titles(first) + titles(second) + titles(last))) == 5
    beyond = search(catalog, MARKER, pagination={"page": 9, "page_size": 2})
    assert beyond.hits == [] and beyond.total_count == 5


@pytest.mark.parametrize(
    ("arguments", "code"),
    [
        ({"query": ""}, "EMPTY_QUERY"),
        ({"query": "   "}, "EMPTY_QUERY"),
        ({"query": "*** && ||"}, "EMPTY_QUERY"),
        ({"query": "x" * 1000}, "QUERY_TOO_LONG"),
        ({"query": "-python -pandas"}, "NO_SEARCH_TERMS"),
        ({"query": "python", "pagination": {"page_size": 0}}, "INVALID_PAGE_SIZE"),
        ({"query": "python", "pagination": {"page_size": -5}}, "INVALID_PAGE_SIZE"),
        ({"query": "python", "pagination": {"page_size": 10_000}}, "INVALID_PAGE_SIZE"),
        ({"query": "python", "pagination": {"page": 0}}, "INVALID_PAGE"),
        ({"query": "python", "pagination": {"page": 51}}, "SEARCH_PAGE_TOO_DEEP"),
        ({"query": "python", "facets": ["colour"]}, "UNKNOWN_FACET"),
        ({"query": "python", "filters": {"min_rating": 7}}, "INVALID_SEARCH_FILTER"),
        ({"query": "python", "filters": {"min_price": 5, "max_price": 1}}, "INVALID_SEARCH_FILTER"),
    ],
)
def test_bad_input_gets_a_code(catalog, arguments, code):
    assert code_of(catalog, service.search_courses, **arguments) == code


@pytest.mark.parametrize(
    "query",
    ['"python', 'python"', '"" -"" or or', "-(python) & !data | :* <->", "python:* & !'x'", "or"],
)
def test_operator_soup_never_reaches_the_database_as_syntax(catalog, query):
    try:
        search(catalog, query)
    except LmsError as error:  # refused with a code, never a database syntax error
        assert error.code in {"EMPTY_QUERY", "NO_SEARCH_TERMS"}


def test_lesson_text_is_found_only_by_its_readers(catalog):
    def lessons(query, viewer=ANONYMOUS, **arguments):
        with catalog.session() as session:
            return service.search_lessons(session, viewer, query=query, **arguments)

    # A free preview's text is open to everyone, highlighted.
    preview = lessons("comma separated")
    assert [hit.document.title for hit in preview.hits] == ["Loading CSV files"]
    assert "<mark>comma</mark>" in preview.hits[0].body_html
    # Another lesson's text is not searchable by strangers...
    assert lessons("zanzibarite").total_count == 0
    # ...but by the course's instructor (and admins).
    owner = Viewer(catalog.owner_id, Role.EDUCATOR)
    assert [hit.document.title for hit in lessons("zanzibarite", owner).hits] == ["Grouping rows"]
    assert lessons("zanzibarite", Viewer(None, Role.ADMIN)).total_count == 1
    # ...and by its enrolled students, across courses or within the course.
    student = add_user(Role.STUDENT, catalog.settings)
    with catalog.session() as session:
        session.add(Enrollment(student_id=student, course_id=catalog.ids["pandas"]))
    enrolled = Viewer(student, Role.STUDENT)
    assert lessons("zanzibarite", enrolled).total_count == 1
    assert lessons("zanzibarite", enrolled, course_id=str(catalog.ids["pandas"])).total_count == 1
    assert lessons("zanzibarite", Viewer(MARKER_ID, Role.STUDENT)).total_count == 0
    # Titles are public (the outline shows them), the text stays hidden.
    by_title = lessons("cluster upgrades")
    assert by_title.hits[0].document.title == "Cluster upgrades"
    assert not by_title.hits[0].readable and by_title.hits[0].body_html is None
    # Within one course.
    scoped = lessons("lesson OR rows OR regression", course_id=str(catalog.ids["ml"]))
    assert [hit.document.title for hit in scoped.hits] == ["Linear regression"]


def test_lessons_of_an_invisible_course_answer_not_found(catalog):
    draft = str(catalog.ids["draft"])
    assert code_of(catalog, service.search_lessons, query="hidden", course_id=draft) == (
        "COURSE_NOT_FOUND"
    )
    assert code_of(catalog, service.search_lessons, query="x", course_id="nope") == (
        "COURSE_NOT_FOUND"
    )


def test_autocomplete_suggests_titles_and_popular_queries(catalog):
    def suggest(query, limit=None):
        with catalog.session() as session:
            return service.autocomplete(session, ANONYMOUS, query=query, limit=limit)

    assert [(s.text, s.kind) for s in suggest("kube")] == [
        ("Advanced Kubernetes Operations", "COURSE")
    ]
    assert [s.text for s in suggest("compos")] == ["Photography Composition"]
    assert code_of(catalog, service.autocomplete, query="ph", limit=500) == "INVALID_LIMIT"


def test_trending_counts_people_not_repeats_and_keeps_no_ids(catalog):
    alice, bob = (Viewer(catalog.owner_id, Role.EDUCATOR), Viewer(MARKER_ID, Role.STUDENT))
    with catalog.session() as session:
        for viewer in (alice, bob, alice):
            service.log_query(session, viewer, query=f"Kubernetes {MARKER}", results=1)
        for _ in range(5):  # one person repeating a query does not make it trend
            service.log_query(session, alice, query=f"lonely {MARKER}", results=1)
    with catalog.session() as session:
        service.roll_up_trending(session)
    with catalog.session() as session:
        trending = {
            t.query: (t.searches, t.searchers)
            for t in service.trending_searches(session, ANONYMOUS, limit=50)
        }
        assert trending[f"kubernetes {MARKER}"] == (3, 2)
        assert f"lonely {MARKER}" not in trending
        suggestions = service.autocomplete(session, ANONYMOUS, query="kubernetes ly")
        assert (suggestions[0].text, suggestions[0].kind) == (f"kubernetes {MARKER}", "QUERY")


def test_counters_owned_by_other_modules_reach_the_index(catalog):
    from sqlalchemy import update

    from lms.courses.models import Course
    from lms.search import indexing

    with catalog.session() as session:
        session.execute(
            update(Course).where(Course.id == catalog.ids["photo"]).values(enrollment_count=9999)
        )
        assert indexing.refresh_counters(session) >= 1
    assert titles(search(catalog, MARKER, sort="POPULARITY"))[0] == "Photography Composition"
    with catalog.session() as session:
        session.execute(
            update(Course).where(Course.id == catalog.ids["photo"]).values(enrollment_count=40)
        )
        indexing.refresh_counters(session)


def test_health_reports_the_index(catalog):
    with catalog.session() as session:
        health = service.search_health(session, ANONYMOUS)
    assert health.course_documents >= 5 and health.lesson_documents >= 6
    assert health.backend in {"POSTGRESQL", "SQLITE_FTS5"} and health.terms > 0


def test_the_bulk_rebuild_builds_what_index_jobs_build(catalog):
    from sqlalchemy import func, select, text

    from lms.search import indexing
    from lms.search.models import SearchCourse

    def documents() -> dict:
        with catalog.session() as session:
            rows = session.query(SearchCourse).filter(
                SearchCourse.course_id.in_(catalog.ids.values())
            )
            return {r.course_id: (r.title, r.tags, r.title_document, r.document) for r in rows}

    by_jobs = documents()
    postgres = catalog.settings.database_url.startswith("postgresql")
    with catalog.session() as session:
        started = session.scalar(select(func.now())) if postgres else None
        indexing.rebuild(session)
    indexing.vacuum(catalog.settings)  # as the rebuild job and command do after it
    assert documents() == by_jobs and len(by_jobs) == 5
    assert titles(search(catalog, f"python {MARKER}"))[0] == "Python for Data Analysis"
    if postgres:
        # Freshly loaded rows are slow to search until vacuumed: the rebuild does it.
        with catalog.session() as session:
            vacuumed = session.execute(
                text(
                    "SELECT relname, last_vacuum, last_analyze FROM pg_stat_user_tables "
                    "WHERE relname IN ('search_courses', 'search_lessons', 'search_terms')"
                )
            ).all()
        assert len(vacuumed) == 3
        assert all(row.last_vacuum >= started and row.last_analyze >= started for row in vacuumed)
