"""In-process GraphQL for Communication tests: the executable schema, resolvers and
per-request `Context` that `POST /graphql` uses, on the test PostgreSQL database and
RabbitMQ vhost; only the HTTP framing is left out (the websocket test has a real API)."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from ariadne import graphql

from lms.communication.settings import communication_settings
from lms.config import get_settings
from lms.db import build_async_engine, make_async_sessionmaker, session_scope
from lms.enrollments.models import Enrollment, EnrollmentStatus
from lms.security import Viewer
from lms.users.models import Role, User
from tests.enrollments.support import make_course
from tests.support import create_user
from web.context import Context, Services
from web.errors import format_error
from web.events import EventHub
from web.graphql_http import cached_parser, validation_rules
from web.schema import build_schema


@dataclass
class Person:
    user: User
    token: str

    @property
    def id(self) -> str:
        return str(self.user.id)

    @property
    def viewer(self) -> Viewer:
        return Viewer(self.user.id, self.user.role)


class Api:
    def __init__(self, services: Services) -> None:
        self.services = services

    async def execute(self, who: Person | None, query: str, **variables: Any) -> dict:
        viewer = who.viewer if who else Viewer()
        _, result = await graphql(
            build_schema(),
            {"query": query, "variables": variables},
            context_value=Context(self.services, viewer=viewer),
            query_parser=cached_parser,
            validation_rules=validation_rules(self.services),
            error_formatter=format_error,
        )
        return result

    async def data(self, who: Person | None, query: str, **variables: Any) -> dict:
        result = await self.execute(who, query, **variables)
        assert not result.get("errors"), result["errors"]
        return result["data"]

    async def codes(self, who: Person | None, query: str, **variables: Any) -> list[str]:
        result = await self.execute(who, query, **variables)
        return [e["extensions"]["code"] for e in result.get("errors") or []]


@pytest.fixture(scope="package", autouse=True)
def no_posting_interval():
    """Test users are new accounts that post many times a second: the interval between posts
    is off unless a test asks for it (`posting_limits`)."""
    names = (
        "LMS_COMMUNICATION_POST_INTERVAL_SECONDS",
        "LMS_COMMUNICATION_NEW_USER_POST_INTERVAL_SECONDS",
    )
    saved = {name: os.environ.get(name) for name in names}
    os.environ.update({name: "0" for name in names})
    communication_settings.cache_clear()
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    communication_settings.cache_clear()


@pytest.fixture
def posting_limits(monkeypatch):
    """The shipped posting limits (5 s between posts, 30 s for new accounts)."""
    monkeypatch.setenv("LMS_COMMUNICATION_POST_INTERVAL_SECONDS", "5")
    monkeypatch.setenv("LMS_COMMUNICATION_NEW_USER_POST_INTERVAL_SECONDS", "30")
    communication_settings.cache_clear()
    yield communication_settings()
    monkeypatch.undo()
    communication_settings.cache_clear()


@pytest.fixture(scope="package")
async def api():
    settings = get_settings()
    engine = build_async_engine(settings)
    yield Api(Services(settings, make_async_sessionmaker(engine), EventHub(settings)))
    await engine.dispose()


def person(role: Role = Role.STUDENT) -> Person:
    return Person(*create_user(role))


def enroll_directly(student_id, course_id: str) -> None:
    """An ACTIVE enrollment row (the Enrollments module's own tests cover enrolling)."""
    with session_scope() as session:
        session.add(
            Enrollment(
                student_id=student_id,
                course_id=uuid.UUID(course_id),
                status=EnrollmentStatus.ACTIVE,
            )
        )


@dataclass
class Course:
    id: str
    teacher: Person
    students: list[Person]
    lessons: list[str]


def course_with(students: int = 2, **options: Any) -> Course:
    """A published course, its instructor and `students` enrolled students."""
    teacher = person(Role.EDUCATOR)
    outline = make_course(teacher.user.id, **options)
    members = [person() for _ in range(students)]
    for member in members:
        enroll_directly(member.user.id, outline.id)
    return Course(outline.id, teacher, members, outline.lessons)


@pytest.fixture
def course() -> Course:
    return course_with()
