"""Imports every domain's models so `Base.metadata` is complete (migrations, tests)."""

from lms.admin import models as admin_models  # noqa: F401
from lms.content import models as content_models  # noqa: F401
from lms.courses import catalog_version as catalog_version_models  # noqa: F401
from lms.courses import models as courses_models  # noqa: F401
from lms.enrollments import models as enrollments_models  # noqa: F401
from lms.jobs import effects as effects_models  # noqa: F401
from lms.jobs import models as jobs_models  # noqa: F401
from lms.models import Base
from lms.users import models as users_models  # noqa: F401

metadata = Base.metadata
