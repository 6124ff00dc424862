"""The Admin module's error codes, the one place they are written (each is also in
`schemas/errors.graphql`); raised with the types of `lms.errors`, as in `lms/courses/errors.py`.
"""

from __future__ import annotations

import enum


class AdminCode(enum.StrEnum):
    BROKER_UNAVAILABLE = "BROKER_UNAVAILABLE"
    CELERY_MISMATCH = "CELERY_MISMATCH"
    INVALID_DATE_RANGE = "INVALID_DATE_RANGE"
    OPERATOR_READ_ONLY = "OPERATOR_READ_ONLY"
    QUEUE_ALREADY_DRAINING = "QUEUE_ALREADY_DRAINING"
    QUEUE_ALREADY_PAUSED = "QUEUE_ALREADY_PAUSED"
    QUEUE_CLEARED = "QUEUE_CLEARED"
    QUEUE_NOT_PAUSED = "QUEUE_NOT_PAUSED"
    UNKNOWN_QUEUE = "UNKNOWN_QUEUE"
