"""Models and migrations agree, on PostgreSQL and on SQLite."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from lms.all_models import metadata
from lms.config import get_settings, load_settings
from lms.db import driver_url
from lms.migrate import upgrade


def differences(database_url: str) -> list:
    engine = create_engine(driver_url(database_url, asynchronous=False))
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return compare_metadata(context, metadata)
    finally:
        engine.dispose()


def test_postgresql_schema_matches_the_models():
    # the session fixture migrated this database with the real migrations
    assert differences(get_settings().database_url) == []


def test_sqlite_schema_matches_the_models(tmp_path):
    settings = load_settings(database_url=f"sqlite:///{tmp_path / 'lms.db'}", var_dir=tmp_path)
    upgrade(settings)
    assert differences(settings.database_url) == []
