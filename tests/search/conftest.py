"""Search fixtures: the same catalog indexed on PostgreSQL and on SQLite (FTS5), so the
behaviour tests run against both backends through the same service functions."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from lms.config import Settings, get_settings, load_settings
from lms.db import session_scope
from lms.migrate import upgrade
from lms.search import indexing
from lms.users.models import Role
from tests.search.catalog import CATALOG, add_course, add_user


@dataclass
class Catalog:
    settings: Settings
    ids: dict  # catalog key -> course id
    owner_id: object
    lessons: dict  # lesson title -> lesson id

    def session(self):
        return session_scope(self.settings)


def build_catalog(settings: Settings) -> Catalog:
    owner = add_user(Role.EDUCATOR, settings)
    ids, lessons = {}, {}
    with session_scope(settings) as session:
        for key, spec in CATALOG.items():
            ids[key] = add_course(session, owner, spec).id
    for course_id in ids.values():
        with session_scope(settings) as session:
            indexing.index_course(session, course_id)
    with session_scope(settings) as session:
        indexing.refresh_terms(session)
        from lms.search.models import SearchLesson

        lessons = {row.title: row.lesson_id for row in session.query(SearchLesson)}
    return Catalog(settings, ids, owner, lessons)


@pytest.fixture(scope="module", params=["postgresql", "sqlite"])
def catalog(request, tmp_path_factory) -> Catalog:
    if request.param == "postgresql":
        return build_catalog(get_settings())
    folder = tmp_path_factory.mktemp("search-sqlite")
    settings = load_settings(database_url=f"sqlite:///{folder / 'lms.db'}", var_dir=folder)
    upgrade(settings)
    return build_catalog(settings)
