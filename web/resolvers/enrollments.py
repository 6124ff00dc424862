"""Enrollments: thin resolvers over `lms.enrollments`; live events from the bus."""

from __future__ import annotations

from typing import Any

from ariadne import MutationType, ObjectType, QueryType, SubscriptionType

from lms.enrollments import certificates, service
from lms.enrollments.certificates import CertificateView, certificate_from_event
from lms.enrollments.events import CERTIFICATE_TOPIC, COMPLETED_TOPIC, LESSON_TOPIC, PROGRESS_TOPIC
from lms.enrollments.models import CertificateStatus

query = QueryType()
mutation = MutationType()
subscription = SubscriptionType()
enrollment_type = ObjectType("Enrollment")
certificate_type = ObjectType("Certificate")
verification_type = ObjectType("CertificateVerification")


def _read(name: str, fn, *, public: bool = False):
    """A query resolver passing its arguments on to the service function."""

    async def resolve(_, info, **arguments: Any):
        ctx = info.context
        viewer = ctx.viewer if public else ctx.require_viewer()
        return await ctx.read(fn, viewer, **arguments)

    query.set_field(name, resolve)


def _write(name: str, fn):
    async def resolve(_, info, **arguments: Any):
        ctx = info.context
        return await ctx.write(fn, ctx.require_viewer(), **arguments)

    mutation.set_field(name, resolve)


_read("checkEnrollmentEligibility", service.check_enrollment_eligibility)
_read("checkLessonAccess", service.check_lesson_access)
_read("verifyCertificate", certificates.verify_certificate, public=True)
_read("myCertificates", certificates.my_certificates)
_read("myEnrollments", service.my_enrollments)
_read("enrollment", service.get_enrollment)
_read("enrollmentProgress", service.enrollment_progress)
_read("courseEnrollments", service.course_enrollments)
_read("studentEnrollments", service.student_enrollments)

_write("enrollInCourse", service.enroll_in_course)
_write("withdrawEnrollment", service.withdraw_enrollment)
_write("updateLessonProgress", service.update_lesson_progress)
_write("completeLesson", service.complete_lesson)
_write("resetLessonProgress", service.reset_lesson_progress)
_write("regenerateCertificate", certificates.regenerate_certificate)
_write("revokeCertificate", certificates.revoke_certificate)


# --- nested fields ------------------------------------------------------------------------


@enrollment_type.field("course")
def resolve_course(enrollment, info):
    return info.context.loaders.load(service.courses_by_id, enrollment.course_id)


@enrollment_type.field("certificate")
def resolve_certificate(enrollment, info):
    return info.context.loaders.load(certificates.certificates_by_enrollment, enrollment.id)


@certificate_type.field("downloadUrl")
def resolve_download_url(certificate: CertificateView, info) -> str | None:
    if certificate.storage_key is None or certificate.status != CertificateStatus.ISSUED:
        return None
    return certificates.download_url(certificate.storage_key, info.context.settings)


@verification_type.field("valid")
def resolve_valid(verification, info) -> bool:
    return verification.valid


# --- subscriptions ----------------------------------------------------------------------------


def _live(name: str, topic: str, convert) -> None:
    """A subscription to one enrollment's events on `topic`, for whoever may see the enrollment."""

    async def source(_, info, enrollment_id: str):
        ctx = info.context
        viewer = ctx.require_viewer()
        # Listen first, then authorize: nothing published meanwhile is missed.
        async with ctx.hub.listen(topic) as events:
            enrollment = await ctx.read(service.get_enrollment, viewer, id=enrollment_id)
            key = str(enrollment.id)
            while True:
                event = await events.get()
                if event.get("enrollment_id") == key:
                    yield event

    subscription.set_source(name, source)
    subscription.set_field(name, lambda event, *_args, **_kwargs: convert(event))


def _course_completion(event: dict) -> dict:
    return {**event, "certificate": certificate_from_event(event["certificate"])}


_live("enrollmentProgressUpdated", PROGRESS_TOPIC, dict)
_live("lessonProgressUpdated", LESSON_TOPIC, dict)
_live("certificateGenerated", CERTIFICATE_TOPIC, certificate_from_event)
_live("courseCompleted", COMPLETED_TOPIC, _course_completion)

bindables = [query, mutation, subscription, enrollment_type, certificate_type, verification_type]
