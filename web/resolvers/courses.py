"""Courses: thin resolvers over `lms.courses`; nested fields come from per-request dataloaders.

The course queries read ahead: with the page (or the course) they read, in the same
database call, the batches its selection will ask for (tags, instructors, statistics,
modules, their lessons), so every nested field finds its value ready and the page
completes without a task per field (`web/lookahead.py`, `Loaders.preload`).
"""

from __future__ import annotations

from typing import Any

from ariadne import MutationType, ObjectType, QueryType
from graphql import FieldNode, GraphQLResolveInfo
from sqlalchemy.orm import Session

from lms.courses import batch, catalog, cover, service
from lms.courses.access import can_edit
from lms.courses.models import Course
from web.dataloaders import Loaders
from web.lookahead import below, selection
from web.service_fields import bind_service_fields

query = QueryType()
mutation = MutationType()
course_type = ObjectType("Course")
module_type = ObjectType("CourseModule")
lesson_type = ObjectType("Lesson")
cover_variant_type = ObjectType("CourseCoverVariant")

STATS = {"moduleCount", "lessonCount", "totalDurationSeconds"}


def read_ahead(
    session: Session,
    info: GraphQLResolveInfo,
    loaders: Loaders,
    courses: list[Course],
    wanted: dict[str, list[FieldNode]],
) -> None:
    """Preload the batches that the `wanted` fields of `courses` resolve from."""
    ids = [course.id for course in courses]
    if not ids:
        return
    if "tags" in wanted:
        loaders.preload(session, batch.tags_by_course, ids)
    if "prerequisites" in wanted:
        loaders.preload(session, batch.prerequisites_by_course, ids)
    if "instructors" in wanted or "viewerCanEdit" in wanted:
        loaders.preload(session, batch.instructors_by_course, ids)
    if STATS & wanted.keys():
        loaders.preload(session, batch.stats_by_course, ids)
    if "modules" not in wanted:
        return
    modules = loaders.preload(session, batch.modules_by_course, ids)
    in_module = below(info, wanted["modules"])
    if "lessons" in in_module or "durationSeconds" in in_module:
        module_ids = [module.id for group in modules for module in group]
        lessons = loaders.preload(session, batch.lessons_by_module, module_ids)
        if "content" in below(info, in_module.get("lessons", [])):
            lesson_ids = [lesson.id for group in lessons for lesson in group]
            loaders.preload(session, batch.lesson_content, lesson_ids)


# --- queries -------------------------------------------------------------------------


def _course_resolver(fn):
    async def resolve(_, info, **arguments) -> Course:
        ctx = info.context
        viewer, loaders, wanted = ctx.require_viewer(), ctx.loaders, selection(info)

        def read(session: Session) -> Course:
            course = fn(session, viewer, **arguments)
            read_ahead(session, info, loaders, [course], wanted)
            return course

        return await ctx.run_sync(read)

    return resolve


query.set_field("course", _course_resolver(service.get_course))
query.set_field("courseBySlug", _course_resolver(service.get_course_by_slug))


def _list_resolver(fn):
    async def resolve(_, info, filter: dict | None = None, pagination: dict | None = None):
        ctx = info.context
        viewer, loaders = ctx.require_viewer(), ctx.loaders
        with_total = "totalCount" in selection(info)
        wanted = selection(info, "edges", "node")

        def read(session: Session) -> Any:
            page = fn(session, viewer, filter=filter, pagination=pagination, with_total=with_total)
            read_ahead(session, info, loaders, page.nodes, wanted)
            return page

        return await ctx.run_sync(read)

    return resolve


query.set_field("courses", _list_resolver(catalog.list_courses))
query.set_field("myCourses", _list_resolver(catalog.list_my_courses))


# --- mutations -----------------------------------------------------------------------


bind_service_fields(
    mutation,
    {
        "createCourse": service.create_course,
        "updateCourse": service.update_course,
        "publishCourse": service.publish_course,
        "deleteCourse": service.delete_course,
        "validateCoursePublication": service.validate_course_publication,
        "addModule": service.add_module,
        "updateModule": service.update_module,
        "deleteModule": service.delete_module,
        "reorderModules": service.reorder_modules,
        "addLesson": service.add_lesson,
        "updateLesson": service.update_lesson,
        "deleteLesson": service.delete_lesson,
        "reorderLessons": service.reorder_lessons,
    },
    write=True,
    rename={"input": "data"},
)


# --- Course and CourseModule fields --------------------------------------------------


@course_type.field("tags")
def resolve_tags(course: Course, info):
    return info.context.loaders.load(batch.tags_by_course, course.id)


@course_type.field("prerequisites")
def resolve_prerequisites(course: Course, info):
    return info.context.loaders.load(batch.prerequisites_by_course, course.id)


@course_type.field("instructors")
def resolve_instructors(course: Course, info):
    return info.context.loaders.load(batch.instructors_by_course, course.id)


@course_type.field("modules")
def resolve_modules(course: Course, info):
    return info.context.loaders.load(batch.modules_by_course, course.id)


def _stat(name: str):
    def resolve(course: Course, info):
        return info.context.loaders.then(
            batch.stats_by_course, course.id, lambda stats: getattr(stats, name)
        )

    return resolve


course_type.set_field("moduleCount", _stat("module_count"))
course_type.set_field("lessonCount", _stat("lesson_count"))
course_type.set_field("totalDurationSeconds", _stat("total_duration_seconds"))


@course_type.field("viewerCanEdit")
def resolve_viewer_can_edit(course: Course, info):
    viewer = info.context.viewer
    return info.context.loaders.then(
        batch.instructors_by_course,
        course.id,
        lambda instructors: can_edit(viewer, (instructor.user_id for instructor in instructors)),
    )


@course_type.field("coverImage")
def resolve_cover_image(course: Course, _info) -> dict | None:
    if course.cover_status is None and not course.cover_variants:
        return None
    return {
        "status": course.cover_status,
        "error_message": course.cover_error,
        "variants": [
            {
                "width": v["width"],
                "height": v["height"],
                "format": v["format"],
                "storage_key": v["key"],
            }
            for v in course.cover_variants
        ],
    }


@cover_variant_type.field("url")
def resolve_cover_variant_url(variant: dict, info) -> str:
    # Its own resolver: a URL is signed (presigned on S3) only when a client asks for it.
    return cover.variant_url(variant["storage_key"], info.context.settings)


@module_type.field("lessons")
def resolve_lessons(module, info):
    return info.context.loaders.load(batch.lessons_by_module, module.id)


@module_type.field("durationSeconds")
def resolve_module_duration(module, info):
    return info.context.loaders.then(
        batch.lessons_by_module,
        module.id,
        lambda lessons: sum(lesson.duration_seconds for lesson in lessons),
    )


@lesson_type.field("content")
def resolve_lesson_content(lesson, info):
    return info.context.loaders.load(batch.lesson_content, lesson.id)


bindables = [query, mutation, course_type, module_type, lesson_type, cover_variant_type]
