"""Analytics: thin resolvers over `lms.analytics.service`."""

from __future__ import annotations

from ariadne import MutationType, ObjectType, QueryType

from lms.analytics.service import reads, reports
from web.service_fields import bind_service_fields

query = QueryType()
mutation = MutationType()
report_type = ObjectType("AnalyticsReport")
at_risk_type = ObjectType("AtRiskStudent")

bind_service_fields(
    query,
    {
        "courseAnalytics": reads.course_analytics,
        "studentAnalytics": reads.student_analytics,
        "dashboardMetrics": reads.dashboard_metrics,
        "platformMetrics": reads.platform_metrics,
        "trendingCourses": reads.trending_courses,
        "topPerformingStudents": reads.top_performing_students,
        "analyticsReport": reports.analytics_report,
    },
)
bind_service_fields(
    mutation,
    {
        "generateCourseReport": reports.generate_course_report,
        "generateStudentReport": reports.generate_student_report,
        "exportLearningStatements": reports.export_learning_statements,
    },
    write=True,
)


@report_type.field("status")
def resolve_status(job, _info) -> str:
    return job.status.value


@report_type.field("progressMessage")
def resolve_progress_message(job, _info) -> str | None:
    return job.progress_message


@report_type.field("downloads")
def resolve_downloads(job, info) -> list[dict]:
    return (
        reports.download_links(job, info.context.settings)
        if job.status.value == "SUCCEEDED"
        else []
    )


@at_risk_type.field("name")
def resolve_at_risk_name(student, info):
    """Reports carry the name; `courseAnalytics` leaves it to one batched read per request,
    made only when a query selects it."""
    if "name" in student:
        return student["name"]
    return info.context.loaders.load(reads.names_of_students, student["user_id"])


bindables = [query, mutation, report_type, at_risk_type]
