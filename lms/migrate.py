"""Alembic driven from code: `lms migrate` and the tests use the same configuration."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from lms.config import Settings, get_settings
from lms.db import driver_url

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(settings: Settings | None = None) -> Config:
    settings = settings or get_settings()
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    url = driver_url(settings.database_url, asynchronous=False)
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(settings: Settings | None = None, revision: str = "heads") -> None:
    """Apply migrations. Domains branch from the foundation revision, hence "heads"."""
    settings = settings or get_settings()
    if settings.embedded:
        settings.var_dir.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(settings), revision)


def new_revision(message: str, settings: Settings | None = None) -> None:
    """Autogenerate a revision from the models (developers: `lms makemigration`)."""
    command.revision(alembic_config(settings), message=message, autogenerate=True)
