"""Who may look at the operator console and who may act on it."""

from __future__ import annotations

from lms.admin.errors import AdminCode
from lms.errors import Forbidden
from lms.security import Role, Viewer, require_role


def require_operator(viewer: Viewer):
    """Admins and read-only operators: job history, live queues and their streams."""
    return require_role(viewer, Role.ADMIN, Role.OPERATOR)


def require_control(viewer: Viewer):
    """Control actions (retry, pause, resume, clear, drain, clearing alerts): admins only.
    A read-only operator gets a code of its own, so the console can say why."""
    if viewer.role == Role.OPERATOR:
        raise Forbidden(
            "operators have read-only access; ask an admin to do this",
            code=AdminCode.OPERATOR_READ_ONLY,
        )
    return require_role(viewer, Role.ADMIN)
