"""The Analytics module's error codes (each also a value of `ErrorCode` in the SDL)."""

from __future__ import annotations

from lms.errors import Forbidden, NotFound, ValidationFailed


class InvalidDateRange(ValidationFailed):
    """The range ends before it starts."""

    code = "INVALID_DATE_RANGE"


class DateRangeTooLong(ValidationFailed):
    code = "DATE_RANGE_TOO_LONG"


class UnknownMetric(ValidationFailed):
    code = "UNKNOWN_METRIC"


class CourseAnalyticsForbidden(Forbidden):
    """Another educator's course."""

    code = "COURSE_ANALYTICS_FORBIDDEN"


class StudentAnalyticsForbidden(Forbidden):
    """Another student's analytics."""

    code = "STUDENT_ANALYTICS_FORBIDDEN"


class ReportNotFound(NotFound):
    code = "REPORT_NOT_FOUND"
