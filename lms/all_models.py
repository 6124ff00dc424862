"""Every table, for migrations and tests: the models of each domain in `lms.domains`."""

from lms.domains import import_models
from lms.models import Base

import_models()
metadata = Base.metadata
