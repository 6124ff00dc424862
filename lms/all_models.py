"""Imports every domain's models so `Base.metadata` is complete (migrations, tests)."""

from lms.jobs import models as jobs_models  # noqa: F401
from lms.models import Base
from lms.users import models as users_models  # noqa: F401

metadata = Base.metadata
