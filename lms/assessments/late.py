"""Late policy: pure arithmetic on one attempt's score, applied before attempts combine.

A deduction of `percent` of the possible points per started hour or day late, never taking
the score below `floor` percent of the possible points (a score already under the floor stays
as it is: the floor limits the penalty, it does not raise a grade).
"""

from __future__ import annotations

import math
from datetime import datetime
from fractions import Fraction

from lms.assessments.models import LateUnit

UNIT_SECONDS = {LateUnit.HOUR: 3600, LateUnit.DAY: 86400}


def late_seconds(submitted_at: datetime, due_at: datetime | None) -> int:
    if due_at is None or submitted_at <= due_at:
        return 0
    return math.ceil((submitted_at - due_at).total_seconds())


def units_late(seconds: int, unit: LateUnit) -> int:
    """Started units: one second late is one hour (or day) late."""
    return math.ceil(seconds / UNIT_SECONDS[LateUnit(unit)]) if seconds > 0 else 0


def penalty(
    raw: float, possible: float, seconds: int, *, percent: float, unit: LateUnit, floor: float
) -> float:
    """Points taken off `raw` for being `seconds` late."""
    units = units_late(seconds, unit)
    if units == 0 or percent <= 0:
        return 0.0
    raw_f, possible_f = Fraction(str(raw)), Fraction(str(possible))
    deduction = min(possible_f, possible_f * Fraction(str(percent)) / 100 * units)
    lowest = min(raw_f, possible_f * Fraction(str(floor)) / 100)
    after = max(raw_f - deduction, lowest)
    return round(float(raw_f - after), 2)
