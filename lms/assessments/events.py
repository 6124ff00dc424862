"""Job kinds of the Assessments module (it publishes nothing of its own on the bus: grade
notifications go through the Notifications producer, learning events are wired by Analytics)."""

from __future__ import annotations

CLOSE_EXPIRED_JOB = "assessments.close_expired"
DUE_SOON_JOB = "assessments.notify_due_soon"
