"""Course, module and lesson operations: validate, authorize, change; never commit.

Inputs are the GraphQL input objects as dicts with snake_case keys. In updates, a key
that is absent leaves the value alone and a key sent as null clears it (where clearing
makes sense: enrollment limit, category, cover image). One module per section; every
public name is re-exported here, so callers import `lms.courses.service` and never a section.
"""

from lms.courses.service.courses import (
    DELETE_STORAGE_JOB,
    MANUAL_TRANSITIONS,
    RESIZE_COVER_JOB,
    DeleteCourseResult,
    create_course,
    delete_course,
    has_enrollments,
    update_course,
)
from lms.courses.service.documents import (
    CourseDocument,
    LessonDocument,
    course_document,
    published_course_ids,
)
from lms.courses.service.lessons import add_lesson, delete_lesson, reorder_lessons, update_lesson
from lms.courses.service.modules import add_module, delete_module, reorder_modules, update_module
from lms.courses.service.outline import OutlineLesson, outline
from lms.courses.service.publishing import (
    publish_course,
    require_verified_publisher,
    validate_course_publication,
)
from lms.courses.service.reads import (
    course_slugs,
    course_titles,
    courses_by_id,
    find_course,
    get_course,
    get_course_by_slug,
    instructor_names,
)
from lms.courses.service.seats import count_enrollment, missing_prerequisites, open_for_enrollment
from lms.courses.service.videos import (
    detach_video,
    follow_video_duration,
    lesson_by_id,
    play_video_in_lesson,
)

__all__ = [
    "DELETE_STORAGE_JOB",
    "MANUAL_TRANSITIONS",
    "RESIZE_COVER_JOB",
    "CourseDocument",
    "DeleteCourseResult",
    "LessonDocument",
    "OutlineLesson",
    "add_lesson",
    "add_module",
    "count_enrollment",
    "course_document",
    "course_slugs",
    "course_titles",
    "courses_by_id",
    "create_course",
    "delete_course",
    "delete_lesson",
    "delete_module",
    "detach_video",
    "find_course",
    "follow_video_duration",
    "get_course",
    "get_course_by_slug",
    "has_enrollments",
    "instructor_names",
    "lesson_by_id",
    "missing_prerequisites",
    "open_for_enrollment",
    "outline",
    "play_video_in_lesson",
    "publish_course",
    "published_course_ids",
    "reorder_lessons",
    "reorder_modules",
    "require_verified_publisher",
    "update_course",
    "update_lesson",
    "update_module",
    "validate_course_publication",
]
