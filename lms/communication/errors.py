"""The Communication module's error codes (each also a value of `ErrorCode` in the SDL).

Things a viewer may not see answer "not found", so ids of other people's conversations,
threads in courses they do not belong to, or draft announcements reveal nothing.
"""

from __future__ import annotations

from lms.errors import Conflict, Forbidden, NotFound, RateLimited, ValidationFailed


class ConversationNotFound(NotFound):
    code = "CONVERSATION_NOT_FOUND"


class MessageNotFound(NotFound):
    code = "MESSAGE_NOT_FOUND"


class ThreadNotFound(NotFound):
    code = "THREAD_NOT_FOUND"


class PostNotFound(NotFound):
    code = "POST_NOT_FOUND"


class AnnouncementNotFound(NotFound):
    code = "ANNOUNCEMENT_NOT_FOUND"


class MessagingNotAllowed(Forbidden):
    """The two people share no course (or the course does not allow classmates to write)."""

    code = "MESSAGING_NOT_ALLOWED"


class UserBlocked(Forbidden):
    code = "USER_BLOCKED"


class NotCourseMember(Forbidden):
    code = "NOT_COURSE_MEMBER"


class ThreadLocked(Conflict):
    code = "THREAD_LOCKED"


class NotThreadAuthor(Forbidden):
    code = "NOT_THREAD_AUTHOR"


class DeleteWindowPassed(Conflict):
    code = "DELETE_WINDOW_PASSED"


class AnnouncementAlreadyPublished(Conflict):
    code = "ANNOUNCEMENT_ALREADY_PUBLISHED"


class PostingTooFast(RateLimited):
    code = "POSTING_TOO_FAST"


class DuplicatePost(Conflict):
    code = "DUPLICATE_POST"


class DailyPostLimit(RateLimited):
    code = "DAILY_POST_LIMIT"


def too_long(field: str, limit: int) -> ValidationFailed:
    return ValidationFailed(
        f"{field} is over the limit of {limit} characters", code="TOO_LONG", field=field
    )


def empty(field: str) -> ValidationFailed:
    return ValidationFailed(f"{field} must not be empty", code="EMPTY_CONTENT", field=field)


def attachment_too_large(limit: int) -> ValidationFailed:
    return ValidationFailed(
        f"attachments are over the limit of {limit} bytes",
        code="ATTACHMENT_TOO_LARGE",
        field="attachments",
        maxBytes=limit,
    )


def attachment_not_allowed(name: str) -> ValidationFailed:
    return ValidationFailed(
        f"attachment {name!r} is not an allowed file type (checked by its content)",
        code="ATTACHMENT_NOT_ALLOWED",
        field="attachments",
    )


def invalid(message: str, *, field: str) -> ValidationFailed:
    return ValidationFailed(message, code="BAD_USER_INPUT", field=field)
