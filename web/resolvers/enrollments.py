"""Enrollments: thin resolvers over `lms.enrollments`; live events from the bus."""

from __future__ import annotations

from ariadne import MutationType, ObjectType, QueryType, SubscriptionType

from lms.enrollments import certificates, service
from lms.enrollments.certificates import CertificateView, certificate_from_event
from lms.enrollments.events import CERTIFICATE_TOPIC, COMPLETED_TOPIC, LESSON_TOPIC, PROGRESS_TOPIC
from lms.enrollments.models import CertificateStatus
from lms.enrollments.views import progress_event
from lms.events.topics import Topic
from web.events import EventView
from web.service_fields import bind_service_fields

query = QueryType()
mutation = MutationType()
subscription = SubscriptionType()
enrollment_type = ObjectType("Enrollment")
certificate_type = ObjectType("Certificate")
verification_type = ObjectType("CertificateVerification")


bind_service_fields(query, {"verifyCertificate": certificates.verify_certificate}, public=True)
bind_service_fields(
    query,
    {
        "checkEnrollmentEligibility": service.check_enrollment_eligibility,
        "checkLessonAccess": service.check_lesson_access,
        "myCertificates": certificates.my_certificates,
        "myEnrollments": service.my_enrollments,
        "enrollment": service.get_enrollment,
        "enrollmentProgress": service.enrollment_progress,
        "courseEnrollments": service.course_enrollments,
        "studentEnrollments": service.student_enrollments,
    },
)
bind_service_fields(
    mutation,
    {
        "withdrawEnrollment": service.withdraw_enrollment,
        "updateLessonProgress": service.update_lesson_progress,
        "completeLesson": service.complete_lesson,
        "resetLessonProgress": service.reset_lesson_progress,
        "regenerateCertificate": certificates.regenerate_certificate,
        "revokeCertificate": certificates.revoke_certificate,
    },
    write=True,
)
# enrollInCourse: web/resolvers/payments.py (a paid course answers with its checkout).


# --- nested fields ------------------------------------------------------------------------


@enrollment_type.field("course")
def resolve_course(enrollment, info):
    return info.context.loaders.load(service.courses_by_id, enrollment.course_id)


@enrollment_type.field("certificate")
def resolve_certificate(enrollment, info):
    return info.context.loaders.load(certificates.certificates_by_enrollment, enrollment.id)


@certificate_type.field("downloadUrl")
async def resolve_download_url(
    certificate: CertificateView, info, download: bool = False
) -> str | None:
    if certificate.storage_key is None or certificate.status != CertificateStatus.ISSUED:
        return None
    slug = await info.context.loaders.fetch(certificates.course_slugs, certificate.course_id)
    return certificates.download_url(
        certificate.storage_key,
        file_name=certificates.pdf_file_name(certificate.id, slug),
        download=download,
        settings=info.context.settings,
    )


@verification_type.field("valid")
def resolve_valid(verification, info) -> bool:
    return verification.valid


# --- subscriptions ----------------------------------------------------------------------------


def _live(name: str, topic: Topic, convert, *, current=None) -> None:
    """A subscription to one enrollment's events on `topic` (keyed by enrollment id), for
    whoever may see the enrollment. With `current`, the present state comes first and again
    after a bus reconnect, so events missed meanwhile are made up for."""

    async def source(_, info, enrollment_id: str):
        ctx = info.context
        viewer = ctx.require_viewer()
        enrollment = await ctx.read(service.get_enrollment, viewer, id=enrollment_id)

        async def state() -> dict:
            view = await ctx.read(service.get_enrollment, viewer, id=enrollment.id)
            return EventView(current(view))

        # The stream binds its key before `state()` reads, so no change falls in between.
        async for event in ctx.hub.stream(
            topic, str(enrollment.id), current=state if current else None
        ):
            yield event

    subscription.set_source(name, source)
    subscription.set_field(name, lambda event, *_args, **_kwargs: convert(event))


def _course_completion(event: dict) -> dict:
    return EventView(event, certificate=certificate_from_event(event["certificate"]))


def _same(event: dict) -> dict:
    return event


_live("enrollmentProgressUpdated", PROGRESS_TOPIC, _same, current=progress_event)
_live("lessonProgressUpdated", LESSON_TOPIC, _same)
_live("certificateGenerated", CERTIFICATE_TOPIC, certificate_from_event)
_live("courseCompleted", COMPLETED_TOPIC, _course_completion)

bindables = [query, mutation, subscription, enrollment_type, certificate_type, verification_type]
