"""Bulk catalog data written straight to the database, for tests that need many courses
(catalog filters, the query-count test) and for `loadtests/bench_catalog.py`.

Building 50 courses through 1,000 mutations would test nothing new and take a while; the
behaviour of each mutation is tested through GraphQL in the other files.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from lms.config import Settings
from lms.courses.models import (
    Course,
    CourseInstructor,
    CourseModule,
    CourseStatus,
    CourseTag,
    CoverStatus,
    Difficulty,
    InstructorRole,
    Lesson,
    LessonType,
)
from lms.db import session_scope
from lms.models import new_id, utcnow

DESCRIPTION = (
    "<p>A complete, hands-on course: every module ends with a project you build yourself.</p>"
)


def seed_courses(
    owner_id: uuid.UUID,
    count: int,
    *,
    modules: int = 3,
    lessons: int = 4,
    category: str | None = None,
    status: CourseStatus = CourseStatus.PUBLISHED,
    co_instructor_id: uuid.UUID | None = None,
    settings: Settings | None = None,
) -> list[uuid.UUID]:
    """`count` complete courses (cover variants recorded, modules full of lessons)."""
    category = category or f"seed-{uuid.uuid4().hex[:8]}"
    now = utcnow()
    ids: list[uuid.UUID] = []
    with session_scope(settings) as session:
        for n in range(count):
            course_id = new_id()
            ids.append(course_id)
            session.add(
                Course(
                    id=course_id,
                    slug=f"{category}-{n}-{course_id.hex[:6]}",
                    title=f"{category} course {n}",
                    description=DESCRIPTION,
                    category=category,
                    difficulty=list(Difficulty)[n % 3],
                    language="en",
                    status=status,
                    price_amount=(n % 4) * 1000,
                    currency="USD",
                    owner_id=owner_id,
                    cover_status=CoverStatus.READY,
                    cover_version=1,
                    cover_variants=[
                        {
                            "width": 640,
                            "height": 360,
                            "format": "webp",
                            "key": f"courses/{course_id}/cover/v1/cover-640.webp",
                        }
                    ],
                    enrollment_count=n * 7 % 50,
                    rating_average=(n % 5) + 0.5,
                    rating_count=n % 5,
                    created_at=now - timedelta(minutes=n),
                    updated_at=now,
                    published_at=now if status == CourseStatus.PUBLISHED else None,
                )
            )
            session.flush()
            session.add(
                CourseInstructor(course_id=course_id, user_id=owner_id, role=InstructorRole.OWNER)
            )
            if co_instructor_id is not None:
                session.add(
                    CourseInstructor(
                        course_id=course_id,
                        user_id=co_instructor_id,
                        role=InstructorRole.CO_INSTRUCTOR,
                    )
                )
            session.add_all(
                CourseTag(course_id=course_id, tag=tag) for tag in ("python", f"level-{n % 3}")
            )
            for m in range(modules):
                module_id = new_id()
                session.add(
                    CourseModule(
                        id=module_id,
                        course_id=course_id,
                        title=f"Module {m + 1}",
                        description="",
                        position=m,
                        created_at=now,
                        updated_at=now,
                    )
                )
                session.flush()
                session.add_all(
                    Lesson(
                        id=new_id(),
                        module_id=module_id,
                        course_id=course_id,
                        title=f"Lesson {m + 1}.{x + 1}",
                        type=LessonType.TEXT,
                        content="<p>Read me.</p>",
                        duration_seconds=300,
                        is_free_preview=x == 0,
                        requires_previous=x > 0,
                        position=x,
                        created_at=now,
                        updated_at=now,
                    )
                    for x in range(lessons)
                )
    return ids
