from __future__ import annotations

import pytest

from lms.config import get_settings
from lms.db import build_async_engine, make_async_sessionmaker
from tests.analytics.support import InProcessAPI
from web.context import Services
from web.events import EventHub


@pytest.fixture
async def api():
    settings = get_settings()
    engine = build_async_engine(settings)
    yield InProcessAPI(Services(settings, make_async_sessionmaker(engine), EventHub(settings)))
    await engine.dispose()
