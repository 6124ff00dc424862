"""Courses: thin resolvers over `lms.courses`; nested fields come from per-request dataloaders."""

from __future__ import annotations

from ariadne import MutationType, ObjectType, QueryType
from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLResolveInfo,
    InlineFragmentNode,
    SelectionSetNode,
)

from lms.courses import batch, catalog, cover, service
from lms.courses.access import can_edit
from lms.courses.models import Course
from web.service_fields import bind_service_fields

query = QueryType()
mutation = MutationType()
course_type = ObjectType("Course")
module_type = ObjectType("CourseModule")
lesson_type = ObjectType("Lesson")
cover_variant_type = ObjectType("CourseCoverVariant")


def _selects(info: GraphQLResolveInfo, name: str) -> bool:
    """Whether the query selects `name` directly under this field (through fragments too)."""

    def search(selection_set: SelectionSetNode | None) -> bool:
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode) and selection.name.value == name:
                return True
            if isinstance(selection, InlineFragmentNode) and search(selection.selection_set):
                return True
            if isinstance(selection, FragmentSpreadNode):
                fragment = info.fragments.get(selection.name.value)
                if fragment is not None and search(fragment.selection_set):
                    return True
        return False

    return any(search(node.selection_set) for node in info.field_nodes)


# --- queries -------------------------------------------------------------------------


bind_service_fields(
    query, {"course": service.get_course, "courseBySlug": service.get_course_by_slug}
)


@query.field("courses")
async def resolve_courses(_, info, filter: dict | None = None, pagination: dict | None = None):
    ctx = info.context
    return await ctx.read(
        catalog.list_courses,
        ctx.require_viewer(),
        filter=filter,
        pagination=pagination,
        with_total=_selects(info, "totalCount"),
    )


@query.field("myCourses")
async def resolve_my_courses(_, info, filter: dict | None = None, pagination: dict | None = None):
    ctx = info.context
    return await ctx.read(
        catalog.list_my_courses,
        ctx.require_viewer(),
        filter=filter,
        pagination=pagination,
        with_total=_selects(info, "totalCount"),
    )


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
    async def resolve(course: Course, info) -> int:
        stats = await info.context.loaders.load(batch.stats_by_course, course.id)
        return getattr(stats, name)

    return resolve


course_type.set_field("moduleCount", _stat("module_count"))
course_type.set_field("lessonCount", _stat("lesson_count"))
course_type.set_field("totalDurationSeconds", _stat("total_duration_seconds"))


@course_type.field("viewerCanEdit")
async def resolve_viewer_can_edit(course: Course, info) -> bool:
    instructors = await info.context.loaders.load(batch.instructors_by_course, course.id)
    return can_edit(info.context.viewer, (instructor.user_id for instructor in instructors))


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
async def resolve_module_duration(module, info) -> int:
    lessons = await info.context.loaders.load(batch.lessons_by_module, module.id)
    return sum(lesson.duration_seconds for lesson in lessons)


@lesson_type.field("content")
def resolve_lesson_content(lesson, info):
    return info.context.loaders.load(batch.lesson_content, lesson.id)


bindables = [query, mutation, course_type, module_type, lesson_type, cover_variant_type]
