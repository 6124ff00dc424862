"""The Search module's operations: plain functions of (session, viewer, ...), never committing.

`request_reindex` is how other domains' writes (the courses service) keep the index fresh.
"""

from lms.search.indexing import request_reindex
from lms.search.service.courses import courses_by_id, search_courses
from lms.search.service.health import search_health
from lms.search.service.lessons import search_lessons
from lms.search.service.suggest import autocomplete, log_query, roll_up_trending, trending_searches

__all__ = [
    "autocomplete",
    "courses_by_id",
    "log_query",
    "request_reindex",
    "roll_up_trending",
    "search_courses",
    "search_health",
    "search_lessons",
    "trending_searches",
]
