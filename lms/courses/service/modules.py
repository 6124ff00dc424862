"""A course's modules: add, change, delete (closing the gap) and reorder."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from lms.courses import rules
from lms.courses.access import editable_course
from lms.courses.catalog_version import bump_catalog_version
from lms.courses.errors import CourseCode
from lms.courses.models import Course, CourseModule
from lms.errors import NotFound
from lms.models import new_id, utcnow
from lms.search import service as search
from lms.security import Viewer
from lms.courses.service.ordering import apply_order, checked_order


def _module(session: Session, module_id: Any) -> CourseModule:
    key = rules.parse_id(module_id, code=CourseCode.MODULE_NOT_FOUND, what="module")
    module = session.get(CourseModule, key)
    if module is None:
        raise NotFound("module not found", code=CourseCode.MODULE_NOT_FOUND)
    return module


def editable_module(
    session: Session, viewer: Viewer, module_id: Any
) -> tuple[Course, CourseModule]:
    module = _module(session, module_id)
    try:
        course = editable_course(session, viewer, module.course_id)
    except NotFound:
        raise NotFound("module not found", code=CourseCode.MODULE_NOT_FOUND) from None
    return course, module


def add_module(
    session: Session, viewer: Viewer, *, course_id: Any, data: dict[str, Any]
) -> CourseModule:
    """Add a module to a course, at the end or at `position`."""
    course = editable_course(
        session, viewer, rules.parse_id(course_id, code=CourseCode.COURSE_NOT_FOUND, what="course")
    )
    count = session.scalar(select(func.count()).where(CourseModule.course_id == course.id))
    if count >= rules.MODULES_MAX:
        raise rules.invalid(
            CourseCode.TOO_MANY_MODULES,
            f"a course has at most {rules.MODULES_MAX} modules",
            "courseId",
        )
    position = rules.position(data.get("position"), count)
    session.execute(
        update(CourseModule)
        .where(CourseModule.course_id == course.id, CourseModule.position >= position)
        .values(position=CourseModule.position + 1)
    )
    now = utcnow()
    module = CourseModule(
        id=new_id(),
        course_id=course.id,
        title=rules.title(data.get("title")),
        description=rules.rich(data.get("description"), field="description"),
        position=position,
        created_at=now,
        updated_at=now,
    )
    bump_catalog_version(session)  # cached anonymous catalog responses are stale now
    search.request_reindex(session, course.id)  # search documents follow it
    session.add(module)
    course.updated_at = now
    return module


def update_module(
    session: Session, viewer: Viewer, *, id: Any, data: dict[str, Any]
) -> CourseModule:
    """Rename or re-describe a module."""
    course, module = editable_module(session, viewer, id)
    if "title" in data:
        module.title = rules.title(data["title"])
    if "description" in data:
        module.description = rules.rich(data["description"], field="description")
    bump_catalog_version(session)  # cached anonymous catalog responses are stale now
    search.request_reindex(session, course.id)  # search documents follow it
    module.updated_at = course.updated_at = utcnow()
    return module


def delete_module(session: Session, viewer: Viewer, *, id: Any) -> Course:
    """Delete a module and its lessons; the course's other modules close the gap."""
    course, module = editable_module(session, viewer, id)
    gap = module.position
    session.execute(delete(CourseModule).where(CourseModule.id == module.id))
    session.execute(
        update(CourseModule)
        .where(CourseModule.course_id == course.id, CourseModule.position > gap)
        .values(position=CourseModule.position - 1)
    )
    bump_catalog_version(session)  # cached anonymous catalog responses are stale now
    search.request_reindex(session, course.id)  # search documents follow it
    course.updated_at = utcnow()
    return course


def reorder_modules(
    session: Session, viewer: Viewer, *, course_id: Any, data: dict[str, Any]
) -> Course:
    """Put a course's modules in the given order (the full list of its module ids)."""
    course = editable_course(
        session, viewer, rules.parse_id(course_id, code=CourseCode.COURSE_NOT_FOUND, what="course")
    )
    current = session.scalars(
        select(CourseModule.id).where(CourseModule.course_id == course.id)
    ).all()
    order = checked_order(data.get("module_ids") or [], current, field="moduleIds")
    apply_order(session, CourseModule, order)
    bump_catalog_version(session)  # cached anonymous catalog responses are stale now
    search.request_reindex(session, course.id)  # search documents follow it
    course.updated_at = utcnow()
    return course
