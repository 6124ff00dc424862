"""Every event-bus topic, declared once: its name, the payload field that keys it, its payload.

Payloads use camelCase keys, as the GraphQL types that carry them do, so an event reaches a
client without renaming. A topic routes by its key (`<name>.<key>` on RabbitMQ's topic
exchange): an API process receives only keys its clients subscribed to, and a subscriber
only its own key. Streams that want every key (operators) subscribe with `ANY`.

    publish_event(ENROLLMENT_PROGRESS, progress_event(view))     # keyed by enrollmentId
    async for event in hub.stream(ENROLLMENT_PROGRESS, enrollment_id): ...
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, TypedDict

ANY = "*"  # subscribe to every key of a topic (a topic-exchange wildcard for one word)
NO_KEY = "all"  # the key of an unkeyed topic's events
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(frozen=True)
class Topic:
    name: str
    key: str | None  # the payload field that routes an event; None: one stream for all
    payload: type
    description: str = ""

    def key_of(self, data: dict[str, Any]) -> str:
        """The routing key of one payload (ids as strings; never a dot, never empty)."""
        if self.key is None:
            return NO_KEY
        return routing_word(data.get(self.key))

    def routing_key(self, key: str) -> str:
        return f"{self.name}.{key}"


def camel(name: str) -> str:
    """A Python field name as its payload (and GraphQL) key: `enrollment_id` -> `enrollmentId`."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def routing_word(value: Any) -> str:
    """A key as one topic-exchange word: dots and wildcards would change its meaning."""
    text = "" if value is None else str(value)
    return _UNSAFE.sub("_", text) or "_"


class JobEventPayload(TypedDict):
    id: int
    jobId: str
    kind: str
    queueName: str
    status: str
    attempt: int
    progress: float
    message: str | None
    errorCode: str | None
    worker: str | None
    subjectType: str | None
    subjectId: str | None
    requestedById: str | None
    at: str


class EnrollmentProgressPayload(TypedDict):
    enrollmentId: str
    studentId: str
    courseId: str
    status: str
    progressPercent: float
    completedLessons: int
    totalLessons: int
    timeSpentSeconds: int
    updatedAt: str


class LessonProgressPayload(TypedDict):
    enrollmentId: str
    studentId: str
    courseId: str
    lessonId: str
    percentWatched: float
    positionSeconds: int
    timeSpentSeconds: int
    completed: bool
    completedAt: str | None
    updatedAt: str | None


class CertificatePayload(TypedDict, total=False):
    """The certificate as `certificateGenerated` shows it (`CertificateView`, camelCase)."""

    id: str
    enrollmentId: str
    studentId: str
    courseId: str
    status: str
    version: int
    storageKey: str | None


class CourseCompletedPayload(TypedDict):
    enrollmentId: str
    studentId: str
    courseId: str
    courseTitle: str
    completedAt: str
    certificate: CertificatePayload


class ContentPayload(TypedDict):
    type: str  # "video" or "file"
    id: str
    status: str
    errorCode: str | None
    ownerId: str
    courseId: str | None


class VideoProcessingPayload(TypedDict):
    """Where one video's processing stands, as `videoProcessingUpdated` shows it."""

    videoAssetId: str
    status: str  # the asset's: UPLOADING, PROCESSING, READY, FAILED
    step: str | None  # validate, transcode, images, finalize; None before the first is queued
    stepStatus: str | None
    progress: float  # the whole pipeline, 0..1
    percent: float  # the same, 0..100 (one decimal)
    message: str | None
    errorCode: str | None
    errorMessage: str | None
    jobId: str | None
    at: str


class AlertPayload(TypedDict, total=False):
    id: str
    queueName: str | None
    rule: str
    severity: str
    message: str


class NotificationPayload(TypedDict):
    """A notification as `notificationReceived` shows it (camelCase, ids and dates as strings)."""

    id: str
    userId: str
    type: str
    priority: str
    title: str
    body: str
    link: str | None
    data: dict[str, Any]
    createdAt: str
    readAt: str | None
    expiresAt: str | None
    unreadCount: int  # the recipient's unread count with this one


class NotificationReadPayload(TypedDict):
    userId: str
    notificationIds: list[str]  # empty with `all`: every unread one up to `readAt`
    all: bool
    readAt: str


class UnreadCountPayload(TypedDict):
    userId: str
    count: int


class QueueStatsPayload(TypedDict):
    at: str
    queues: list[dict[str, Any]]


class CommunicationPayload(TypedDict, total=False):
    """Communication events carry the view their GraphQL type shows (camelCase), plus the
    key field: `userId` (the recipient), `threadId`, `courseId` or `scope`."""

    userId: str
    threadId: str
    courseId: str
    scope: str  # typing: "conversation-<id>" or "thread-<id>"


JOB = Topic("job", "jobId", JobEventPayload, "every job status change and progress mark")
ENROLLMENT_PROGRESS = Topic(
    "enrollment.progress", "enrollmentId", EnrollmentProgressPayload, "course progress"
)
LESSON_PROGRESS = Topic("enrollment.lesson", "enrollmentId", LessonProgressPayload)
CERTIFICATE_GENERATED = Topic("enrollment.certificate", "enrollmentId", CertificatePayload)
COURSE_COMPLETED = Topic("enrollment.completed", "enrollmentId", CourseCompletedPayload)
CONTENT = Topic("content", "id", ContentPayload, "media and file asset status")
VIDEO_PROCESSING = Topic(
    "content.processing", "videoAssetId", VideoProcessingPayload, "a video's processing progress"
)
ALERT = Topic("admin.alert", "queueName", AlertPayload, "new and escalated queue alerts")
QUEUE_STATS = Topic("admin.queue_stats", None, QueueStatsPayload, "queue statistics snapshots")
NOTIFICATION_RECEIVED = Topic("notification.received", "userId", NotificationPayload)
NOTIFICATION_READ = Topic("notification.read", "userId", NotificationReadPayload)
# Read marks change the unread count; a new notification carries its count itself.
UNREAD_COUNT = Topic("notification.unread", "userId", UnreadCountPayload, "a user's unread count")

# Communication: one event per recipient (messages), per thread, per course, per typing scope.
MESSAGE_RECEIVED = Topic("message.received", "userId", CommunicationPayload, "a new message")
CONVERSATION_UPDATED = Topic("conversation.updated", "userId", CommunicationPayload)
DISCUSSION_POST = Topic("discussion.post", "threadId", CommunicationPayload, "a new reply")
THREAD_UPDATED = Topic("discussion.thread", "threadId", CommunicationPayload)
ANNOUNCEMENT_PUBLISHED = Topic("announcement.published", "courseId", CommunicationPayload)
PRESENCE = Topic("presence", "courseId", CommunicationPayload, "batched enter/leave")
TYPING = Topic("typing", "scope", CommunicationPayload, "typing indicators")

TOPICS: dict[str, Topic] = {
    topic.name: topic
    for topic in (
        JOB,
        ENROLLMENT_PROGRESS,
        LESSON_PROGRESS,
        CERTIFICATE_GENERATED,
        COURSE_COMPLETED,
        CONTENT,
        VIDEO_PROCESSING,
        ALERT,
        QUEUE_STATS,
        NOTIFICATION_RECEIVED,
        NOTIFICATION_READ,
        UNREAD_COUNT,
        MESSAGE_RECEIVED,
        CONVERSATION_UPDATED,
        DISCUSSION_POST,
        THREAD_UPDATED,
        ANNOUNCEMENT_PUBLISHED,
        PRESENCE,
        TYPING,
    )
}
