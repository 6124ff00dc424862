"""The Analytics services. `record` (and `record_many`) is the producer API other modules
call in their own transaction (defined in `lms.analytics.statements`, re-exported here so
other domains reach it through this public module)."""

from lms.analytics.statements import duration, record, record_many

__all__ = ["duration", "record", "record_many"]
