"""Alembic environment: the URL comes from `LMS_DATABASE_URL` (see `lms.migrate`)."""

from alembic import context
from sqlalchemy import create_engine

from lms.all_models import metadata

config = context.config
url = config.get_main_option("sqlalchemy.url")


def run() -> None:
    engine = create_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=connection.dialect.name == "sqlite",  # SQLite ALTERs via copies
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run()
