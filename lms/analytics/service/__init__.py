"""The Analytics services. `record` is the producer API other modules call in their own
transaction (defined in `lms.analytics.statements`, re-exported here so other domains reach
it through this public module)."""

from lms.analytics.statements import duration, record

__all__ = ["duration", "record"]
