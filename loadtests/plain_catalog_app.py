"""The catalog without GraphQL: a plain Quart JSON app, the baseline of `run_catalog_load.py`.

    .venv/bin/python -m loadtests.plain_catalog_app --port 8001

It serves the same three reads as the GraphQL scenario (`loadtests/locust_catalog.py`), for
an anonymous visitor, with the same domain functions and therefore the same SQL statements
(`lms.courses.catalog.list_courses`, `lms.courses.service.get_course[_by_slug]`, the batch
reads of `lms.courses.batch` that the dataloaders use), and answers with JSON equal to the
GraphQL `data` (the runner checks that before measuring):

    GET /plain/courses?sort=NEWEST&first=20   the `courses` page (20 cards, nested)
    GET /plain/course/<id>                    `course(id)`
    GET /plain/course-by-slug/<slug>          `courseBySlug(slug)`

What it leaves out is exactly GraphQL's work: parsing, validation, the viewer's lookup
and per-field resolution (both read everything in one session, as a hand-written endpoint
would). It runs under hypercorn, like `lms serve`. Not part of the
product (lives in loadtests/, never imported by web/).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from quart import Quart, Response, request  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from lms.config import get_settings  # noqa: E402
from lms.courses import batch, catalog, service  # noqa: E402
from lms.courses.models import Course  # noqa: E402
from lms.db import build_async_engine, make_async_sessionmaker  # noqa: E402
from lms.errors import LmsError  # noqa: E402
from lms.security import ANONYMOUS  # noqa: E402


def _cover(course: Course) -> dict | None:
    if course.cover_status is None and not course.cover_variants:
        return None
    return {
        "variants": [
            {"width": v["width"], "format": v["format"], "storageKey": v["key"]}
            for v in course.cover_variants
        ]
    }


def cards(session: Session, courses: list[Course], *, detail: bool) -> list[dict[str, Any]]:
    """The same nested data as the GraphQL selection, batch by batch (no N+1)."""
    ids = [course.id for course in courses]
    viewer = ANONYMOUS
    tags = batch.tags_by_course(session, viewer, ids)
    instructors = batch.instructors_by_course(session, viewer, ids)
    stats = batch.stats_by_course(session, viewer, ids)
    modules = batch.modules_by_course(session, viewer, ids)
    module_ids = [module.id for group in modules for module in group]
    lessons = dict(
        zip(module_ids, batch.lessons_by_module(session, viewer, module_ids), strict=True)
    )
    result = []
    for course, course_tags, people, numbers, course_modules in zip(
        courses, tags, instructors, stats, modules, strict=True
    ):
        card: dict[str, Any] = {
            "id": str(course.id),
            "slug": course.slug,
            "title": course.title,
        }
        if detail:
            card["description"] = course.description
        card.update(
            {
                "priceAmount": course.price_amount,
                "currency": course.currency,
                "isFree": course.is_free,
                "averageRating": course.average_rating,
                "enrollmentCount": course.enrollment_count,
                "difficulty": course.difficulty.value,
                "tags": course_tags,
                "coverImage": _cover(course),
                "instructors": [
                    {"userId": str(p.user_id), "name": p.name, "role": p.role.value} for p in people
                ],
                "moduleCount": numbers.module_count,
                "lessonCount": numbers.lesson_count,
                "totalDurationSeconds": numbers.total_duration_seconds,
                "modules": [
                    {
                        "id": str(module.id),
                        "title": module.title,
                        "position": module.position,
                        "lessons": [
                            {
                                "id": str(lesson.id),
                                "title": lesson.title,
                                "type": lesson.type.value,
                                "durationSeconds": lesson.duration_seconds,
                                "isFreePreview": lesson.is_free_preview,
                            }
                            for lesson in lessons[module.id]
                        ],
                    }
                    for module in course_modules
                ],
            }
        )
        result.append(card)
    return result


def courses_page(session: Session, sort: str, first: int) -> dict:
    page = catalog.list_courses(
        session, ANONYMOUS, filter={"sort": sort}, pagination={"first": first}, with_total=True
    )
    return {
        "courses": {
            "totalCount": page.total_count,
            "pageInfo": {
                "hasNextPage": page.page_info.has_next_page,
                "endCursor": page.page_info.end_cursor,
            },
            "edges": [{"node": card} for card in cards(session, page.nodes, detail=False)],
        }
    }


def one_course(session: Session, field: str, find: Callable[[Session], Course]) -> dict:
    return {field: cards(session, [find(session)], detail=True)[0]}


def create_app() -> Quart:
    app = Quart(__name__)
    sessions = make_async_sessionmaker(build_async_engine(get_settings()))

    async def answer(read: Callable[[Session], dict]) -> Response:
        try:
            async with sessions() as session:
                data = await session.run_sync(read)
            body, status = {"data": data}, 200
        except LmsError as error:
            body, status = {"errors": [{"message": str(error), "code": error.code}]}, 404
        return Response(json.dumps(body), status=status, content_type="application/json")

    @app.get("/healthz")
    async def healthz() -> Response:
        return Response('{"ok":true}', content_type="application/json")

    @app.get("/plain/courses")
    async def courses() -> Response:
        sort = request.args.get("sort", "NEWEST")
        first = int(request.args.get("first", "20"))
        return await answer(lambda s: courses_page(s, sort, first))

    @app.get("/plain/course/<course_id>")
    async def course(course_id: str) -> Response:
        return await answer(
            lambda s: one_course(
                s, "course", lambda s: service.get_course(s, ANONYMOUS, id=course_id)
            )
        )

    @app.get("/plain/course-by-slug/<slug>")
    async def course_by_slug(slug: str) -> Response:
        return await answer(
            lambda s: one_course(
                s, "courseBySlug", lambda s: service.get_course_by_slug(s, ANONYMOUS, slug=slug)
            )
        )

    return app


def main(argv: list[str] | None = None) -> int:
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args(argv)
    config = Config()
    config.bind = [f"{args.host}:{args.port}"]
    config.accesslog = None
    config.errorlog = "-"
    config.graceful_timeout = 5
    print(f"plain catalog on http://{config.bind[0]}/plain/courses", flush=True)
    asyncio.run(serve(create_app(), config))
    return 0


if __name__ == "__main__":
    sys.exit(main())
