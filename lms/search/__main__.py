"""Rebuild the search index: `python -m lms.search rebuild [--inline]`.

By default a `search.rebuild` job is queued (a worker on the default queue runs it, with
progress in the operator views); `--inline` rebuilds in this process, for a first index
of an existing catalog or when no worker runs.
"""

from __future__ import annotations

import argparse

from lms.db import session_scope
from lms.jobs.service import enqueue
from lms.search import indexing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lms.search")
    commands = parser.add_subparsers(dest="command", required=True)
    rebuild = commands.add_parser("rebuild", help="index every published course again")
    rebuild.add_argument("--inline", action="store_true", help="here, not as a job")
    arguments = parser.parse_args(argv)
    if not arguments.inline:
        with session_scope() as session:
            job = enqueue(session, "search.rebuild", {})
        print(f"queued search.rebuild job {job.id}")
        return 0
    with session_scope() as session:
        courses = indexing.rebuild(session)
    indexing.vacuum()
    print(f"indexed {courses} published courses")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
