"""A small catalog with known words, written straight to the database (as the Courses
module stores it), then indexed by the real index code. Every description carries a marker
word unique to the run, so counts are not disturbed by courses other tests publish."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from lms.config import Settings
from lms.courses.models import (
    Course,
    CourseInstructor,
    CourseModule,
    CourseStatus,
    CourseTag,
    Difficulty,
    InstructorRole,
    Lesson,
    LessonType,
)
from lms.db import session_scope
from lms.models import new_id, utcnow
from lms.users.models import Role, User

MARKER = "lyc" + uuid.uuid4().hex[:8]


@dataclass
class Spec:
    title: str
    description: str
    category: str
    tags: tuple[str, ...] = ()
    difficulty: str = "BEGINNER"
    language: str = "en"
    price: int = 0
    rating: float = 0.0
    ratings: int = 0
    enrolled: int = 0
    status: CourseStatus = CourseStatus.PUBLISHED
    # (title, text, free preview, seconds)
    lessons: list[tuple[str, str, bool, int]] = field(default_factory=list)


CATALOG = {
    "pandas": Spec(
        "Python for Data Analysis",
        "Clean, reshape and chart real datasets with pandas and matplotlib.",
        "data-science",
        ("python", "pandas"),
        rating=4.7,
        ratings=12,
        enrolled=300,
        lessons=[
            ("Loading CSV files", "Read comma separated values into a DataFrame.", True, 600),
            (
                "Grouping rows",
                "The groupby operation splits rows; zanzibarite buckets.",
                False,
                900,
            ),
        ],
    ),
    "kubernetes": Spec(
        "Advanced Kubernetes Operations",
        "Run production clusters: autoscaling, observability and disaster recovery.",
        "devops",
        ("containers", "devops"),
        difficulty="ADVANCED",
        price=4900,
        rating=4.2,
        ratings=8,
        enrolled=120,
        lessons=[
            ("Cluster upgrades", "Drain nodes before upgrading the control plane.", False, 4 * 3600)
        ],
    ),
    "ml": Spec(
        "Machine Learning Foundations",
        "Regression, classification and model evaluation with scikit-learn in Python.",
        "data-science",
        ("python", "ml"),
        difficulty="INTERMEDIATE",
        price=2900,
        rating=3.8,
        ratings=5,
        enrolled=500,
        lessons=[("Linear regression", "Fit a line through noisy points.", True, 2 * 3600)],
    ),
    "cuisine": Spec(
        "Cuisine française : les bases",
        "Apprenez la crème brûlée, les sauces mères et le pâté en croûte.",
        "cooking",
        ("cuisine",),
        language="fr",
        rating=4.9,
        ratings=30,
        enrolled=80,
        lessons=[("Les sauces", "Béchamel, velouté et espagnole.", False, 1800)],
    ),
    "photo": Spec(
        "Photography Composition",
        "Framing, the rule of thirds and leading lines for striking photographs.",
        "art",
        ("photography",),
        price=1900,
        rating=4.0,
        ratings=3,
        enrolled=40,
        lessons=[("Rule of thirds", "Place the horizon on a third.", False, 1200)],
    ),
    "draft": Spec(
        "Python Secrets Draft",
        "An unpublished python course nobody may find.",
        "data-science",
        ("python",),
        status=CourseStatus.DRAFT,
        lessons=[("Hidden lesson", "Nothing to see.", True, 60)],
    ),
}


def add_user(role: Role, settings: Settings | None = None) -> uuid.UUID:
    with session_scope(settings) as session:
        user = User(email=f"{uuid.uuid4().hex[:10]}@example.test", name="Searcher", role=role)
        session.add(user)
        session.flush()
        return user.id


def add_course(session, owner_id: uuid.UUID, spec: Spec) -> Course:
    now = utcnow()
    course = Course(
        id=new_id(),
        slug=f"{spec.category}-{uuid.uuid4().hex[:10]}",
        title=spec.title,
        description=f"<p>{spec.description} {MARKER}</p>",
        category=spec.category,
        difficulty=Difficulty(spec.difficulty),
        language=spec.language,
        status=spec.status,
        price_amount=spec.price,
        currency="USD",
        owner_id=owner_id,
        cover_variants=[],
        enrollment_count=spec.enrolled,
        rating_average=spec.rating,
        rating_count=spec.ratings,
        created_at=now - timedelta(days=len(spec.title)),
        updated_at=now,
        published_at=now - timedelta(days=len(spec.title))
        if spec.status == CourseStatus.PUBLISHED
        else None,
    )
    session.add(course)
    session.flush()
    session.add(CourseInstructor(course_id=course.id, user_id=owner_id, role=InstructorRole.OWNER))
    session.add_all(CourseTag(course_id=course.id, tag=tag) for tag in spec.tags)
    module_id = new_id()
    session.add(
        CourseModule(
            id=module_id,
            course_id=course.id,
            title="Getting started",
            description="",
            position=0,
            created_at=now,
            updated_at=now,
        )
    )
    session.flush()
    for position, (title, text, preview, seconds) in enumerate(spec.lessons):
        session.add(
            Lesson(
                id=new_id(),
                module_id=module_id,
                course_id=course.id,
                title=title,
                type=LessonType.TEXT,
                content=f"<p>{text}</p>",
                duration_seconds=seconds,
                is_free_preview=preview,
                position=position,
                created_at=now,
                updated_at=now,
            )
        )
    session.flush()
    return course
