"""Courses test fixtures: people with each role (emails verified), one set per test module."""

from __future__ import annotations

import pytest

from lms.users.models import Role, User
from tests.courses.support import verified


@pytest.fixture(scope="module")
def educator() -> tuple[User, str]:
    return verified(Role.EDUCATOR)


@pytest.fixture(scope="module")
def other_educator() -> tuple[User, str]:
    return verified(Role.EDUCATOR)


@pytest.fixture(scope="module")
def student() -> tuple[User, str]:
    return verified(Role.STUDENT)


@pytest.fixture(scope="module")
def admin() -> tuple[User, str]:
    return verified(Role.ADMIN)
