"""The Assessments module's error codes (each also a value of `ErrorCode` in the SDL)."""

from __future__ import annotations

from lms.errors import Conflict, Forbidden, NotFound, ValidationFailed


class QuizNotFound(NotFound):
    code = "QUIZ_NOT_FOUND"


class QuestionNotFound(NotFound):
    code = "QUESTION_NOT_FOUND"


class AssignmentNotFound(NotFound):
    code = "ASSIGNMENT_NOT_FOUND"


class QuizSubmissionNotFound(NotFound):
    code = "QUIZ_SUBMISSION_NOT_FOUND"


class AssignmentSubmissionNotFound(NotFound):
    code = "ASSIGNMENT_SUBMISSION_NOT_FOUND"


class QuizNotOpen(Conflict):
    code = "QUIZ_NOT_OPEN"


class QuizHasNoQuestions(ValidationFailed):
    code = "QUIZ_HAS_NO_QUESTIONS"


class AttemptLimitReached(Conflict):
    code = "ATTEMPT_LIMIT_REACHED"


class AttemptClosed(Conflict):
    code = "ATTEMPT_CLOSED"


class DeadlinePassed(Conflict):
    code = "QUIZ_DEADLINE_PASSED"


class QuestionNotInAttempt(ValidationFailed):
    code = "QUESTION_NOT_IN_ATTEMPT"


class QuestionLocked(Conflict):
    """Sequential navigation: a question already left cannot be answered again."""

    code = "QUESTION_LOCKED"


class InvalidOption(ValidationFailed):
    code = "INVALID_OPTION"


class StaleAnswerVersion(Conflict):
    code = "STALE_ANSWER_VERSION"


class CannotGradeOwnSubmission(Forbidden):
    code = "CANNOT_GRADE_OWN_SUBMISSION"


class RubricScoreOutOfRange(ValidationFailed):
    code = "RUBRIC_SCORE_OUT_OF_RANGE"


class OverrideReasonRequired(ValidationFailed):
    code = "OVERRIDE_REASON_REQUIRED"


class AssignmentClosed(Conflict):
    """Before the availability window, or after the hard cut-off."""

    code = "ASSIGNMENT_CLOSED"


class FileTypeNotAllowed(ValidationFailed):
    code = "FILE_TYPE_NOT_ALLOWED"


class FileContentMismatch(ValidationFailed):
    """The bytes are not what the name says (an executable renamed `.pdf`)."""

    code = "FILE_CONTENT_MISMATCH"


class FileTooLarge(ValidationFailed):
    code = "FILE_TOO_LARGE"


class FileNotReady(Conflict):
    """The upload's content check has not finished (or the upload was never completed)."""

    code = "FILE_NOT_READY"


class NotGradable(Conflict):
    """Grading or a revision request on a submission in the wrong state."""

    code = "SUBMISSION_NOT_GRADABLE"


class RegradeRequestNotFound(NotFound):
    code = "REGRADE_REQUEST_NOT_FOUND"
