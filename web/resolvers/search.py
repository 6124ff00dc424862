"""Search: thin resolvers over `lms.search.service`; hits read from the index documents."""

from __future__ import annotations

from ariadne import ObjectType, QueryType

from lms.search import service
from lms.search.service.courses import CourseHit
from lms.search.service.lessons import LessonHit
from web.service_fields import bind_service_fields

query = QueryType()
course_hit = ObjectType("CourseSearchHit")
lesson_hit = ObjectType("LessonSearchHit")

bind_service_fields(
    query,
    {
        "searchLessons": service.search_lessons,
        "autocomplete": service.autocomplete,
        "trendingSearches": service.trending_searches,
        "searchHealth": service.search_health,
    },
    public=True,
)


@query.field("searchCourses")
async def resolve_search_courses(_, info, **arguments):
    ctx = info.context
    result = await ctx.read(service.search_courses, ctx.viewer, **arguments)
    if result.page == 1:  # one logged search per query typed, not per page turned
        await ctx.write(
            service.log_query, ctx.viewer, query=result.query, results=result.total_count
        )
    return result


def _document(name: str):
    return lambda hit, _info: getattr(hit.document, name)


for field, column in {
    "courseId": "course_id",
    "slug": "slug",
    "title": "title",
    "category": "category",
    "difficulty": "difficulty",
    "language": "language",
    "priceAmount": "price_amount",
    "currency": "currency",
    "ratingCount": "rating_count",
    "enrollmentCount": "enrollment_count",
    "durationSeconds": "duration_seconds",
    "lessonCount": "lesson_count",
    "publishedAt": "published_at",
}.items():
    course_hit.set_field(field, _document(column))


@course_hit.field("isFree")
def resolve_is_free(hit: CourseHit, _info) -> bool:
    return hit.document.price_amount == 0


@course_hit.field("averageRating")
def resolve_average_rating(hit: CourseHit, _info) -> float | None:
    document = hit.document
    return round(document.rating_average, 2) if document.rating_count else None


@course_hit.field("highlights")
def resolve_course_highlights(hit: CourseHit, _info) -> dict:
    return {"title": hit.title_html, "text": hit.description_html}


@course_hit.field("course")
def resolve_course(hit: CourseHit, info):
    return info.context.loaders.load(service.courses_by_id, hit.document.course_id)


for field, column in {
    "lessonId": "lesson_id",
    "courseId": "course_id",
    "moduleId": "module_id",
    "courseTitle": "course_title",
    "title": "title",
    "type": "type",
    "isFreePreview": "is_free_preview",
}.items():
    lesson_hit.set_field(field, _document(column))


@lesson_hit.field("viewerCanRead")
def resolve_viewer_can_read(hit: LessonHit, _info) -> bool:
    return hit.readable


@lesson_hit.field("highlights")
def resolve_lesson_highlights(hit: LessonHit, _info) -> dict:
    return {"title": hit.title_html, "text": hit.body_html}


bindables = [query, course_hit, lesson_hit]
