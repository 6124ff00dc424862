"""Locust scenario for catalog browsing by anonymous visitors (issue 4's benchmark).

Each simulated visitor, with a think time between requests, does one of (weights 3:2:1):

- `courses`: a page of 20 cards (sorted NEWEST, POPULARITY or RATING) with each course's
  price, cover, tags, instructors, counts, and its modules with their lessons;
- `course(id)`: one course's page (the card plus description), a random seeded course;
- `courseBySlug`: the same by slug.

Run it through `loadtests/run_catalog_load.py` (seeds 1,000 courses, starts the servers,
compares GraphQL with a plain JSON route, prints one JSON line) or by hand:

    CATALOG_FIXTURE=ids.json locust -f loadtests/locust_catalog.py --headless -u 50 -r 50 \
        -t 20s --host http://127.0.0.1:8000

Environment: CATALOG_FIXTURE, a JSON file {"ids": [...], "slugs": [...]} of published
courses (required); CATALOG_TARGET, `graphql` (POST /graphql, default) or `plain` (the GET
routes of `loadtests/plain_catalog_app.py`, same data); CATALOG_WAIT_MIN/MAX, think time in
seconds (default 0.5 and 1.5; 0 and 0 measure saturation throughput); CATALOG_XCACHE_OUT, a
file for the count of the API's X-Cache answers. Requests are named by operation for both
targets; an HTTP error or an `errors` member counts as a failure.
"""

from __future__ import annotations

import json
import os
import random
import sys
from collections import Counter
from pathlib import Path

from locust import between, constant, events, task
from locust.contrib.fasthttp import FastHttpUser

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from loadtests.run_catalog_load import COURSE, COURSE_BY_SLUG, COURSES  # noqa: E402

PAGE_SIZE = 20
SORTS = ("NEWEST", "POPULARITY", "RATING")


def _fixture() -> dict:
    path = os.environ.get("CATALOG_FIXTURE")
    if not path:
        raise SystemExit("set CATALOG_FIXTURE to a JSON file with the courses' ids and slugs")
    with open(path) as handle:
        return json.load(handle)


FIXTURE = _fixture()
TARGET = os.environ.get("CATALOG_TARGET", "graphql")
WAIT_MIN = float(os.environ.get("CATALOG_WAIT_MIN", "0.5"))
WAIT_MAX = float(os.environ.get("CATALOG_WAIT_MAX", "1.5"))
X_CACHE: Counter[str] = Counter()  # the API's X-Cache answers (HIT/MISS/BYPASS)


@events.test_stop.add_listener
def _write_x_cache(**_kwargs) -> None:
    path = os.environ.get("CATALOG_XCACHE_OUT")
    if path:
        with open(path, "w") as handle:
            json.dump(dict(X_CACHE), handle)


class Visitor(FastHttpUser):
    wait_time = constant(0) if WAIT_MAX <= 0 else between(WAIT_MIN, WAIT_MAX)

    def _check(self, response) -> None:
        outcome = response.headers.get("X-Cache")
        if outcome:
            X_CACHE[outcome] += 1
        # A substring test, not a JSON parse: the client shares the CPU with the server.
        if response.status_code != 200:
            response.failure(f"HTTP {response.status_code}")
        elif b'"errors"' in response.content:
            response.failure("errors in the answer")
        else:
            response.success()

    def _graphql(self, name: str, query: str, variables: dict) -> None:
        with self.client.post(
            "/graphql",
            json={"query": query, "variables": variables},
            name=name,
            catch_response=True,
        ) as response:
            self._check(response)

    def _get(self, name: str, path: str) -> None:
        with self.client.get(path, name=name, catch_response=True) as response:
            self._check(response)

    @task(3)
    def courses(self) -> None:
        sort = random.choice(SORTS)
        if TARGET == "plain":
            self._get("courses", f"/plain/courses?sort={sort}&first={PAGE_SIZE}")
        else:
            self._graphql("courses", COURSES, {"sort": sort, "first": PAGE_SIZE})

    @task(2)
    def course(self) -> None:
        course_id = random.choice(FIXTURE["ids"])
        if TARGET == "plain":
            self._get("course(id)", f"/plain/course/{course_id}")
        else:
            self._graphql("course(id)", COURSE, {"id": course_id})

    @task(1)
    def course_by_slug(self) -> None:
        slug = random.choice(FIXTURE["slugs"])
        if TARGET == "plain":
            self._get("courseBySlug", f"/plain/course-by-slug/{slug}")
        else:
            self._graphql("courseBySlug", COURSE_BY_SLUG, {"slug": slug})
