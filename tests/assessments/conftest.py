"""In-process GraphQL on the test PostgreSQL database (see support.py)."""

from __future__ import annotations

import pytest

from lms.config import get_settings
from lms.db import build_async_engine, make_async_sessionmaker
from tests.assessments.support import InProcess
from web.context import Services
from web.events import EventHub


@pytest.fixture(scope="module")
async def gql():
    settings = get_settings()
    engine = build_async_engine(settings)
    yield InProcess(Services(settings, make_async_sessionmaker(engine), EventHub(settings)))
    await engine.dispose()
