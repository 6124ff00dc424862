"""A plain install works: the wheel alone (no extras) in a fresh virtual environment runs
`lms --help`, `lms migrate` and `lms export-schema` in an empty folder (embedded default).

This is what catches a runtime dependency that only the test or load extras pull in (as
greenlet was, through locust), and package data that the wheel forgot. It builds and
installs for real, so it takes a minute or two.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.support import ROOT

# Never part of a build: local state, caches, environments, earlier builds.
NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", "var", "build", "dist", "*.egg-info", "__pycache__", ".*_cache"
)
INSTALL_TIMEOUT = 900


def run(args: list, *, cwd: Path, env: dict, timeout: float = 300) -> str:
    done = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,  # the assert below shows the output
    )
    assert done.returncode == 0, f"{args} failed ({done.returncode}):\n{done.stdout}{done.stderr}"
    return done.stdout + done.stderr


def clean_env() -> dict:
    """A newcomer's shell: none of the test run's LMS_* settings or Python path."""
    drop = ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")
    return {k: v for k, v in os.environ.items() if not k.startswith("LMS_") and k not in drop}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> tuple[Path, str]:
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCE)
    log = run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--verbose",
            "--no-deps",
            "-w",
            work / "dist",
            source,
        ],
        cwd=work,
        env=clean_env(),
        timeout=INSTALL_TIMEOUT,
    )
    [built] = (work / "dist").glob("lyceum-*.whl")
    return built, log


def test_the_wheel_builds_without_packaging_warnings_and_ships_its_data(wheel):
    built, log = wheel
    assert "BuildBackendWarning" not in log and "SetuptoolsDeprecationWarning" not in log, log
    names = set(zipfile.ZipFile(built).namelist())
    for data in (
        "schemas/base.graphql",
        "lms/migrations/script.py.mako",
        "lms/migrations/versions/0001_foundation.py",
        "lms/templates/email/verify_email.html",
        "web/static/admin_queues.html",
        "web/static/admin_console.js",
        "web/static/admin_charts.js",
        "web/static/admin_console.css",
        "web/static/graphiql/graphiql.min.js",
        "web/static/graphiql/react-dom.production.min.js",
    ):
        assert data in names, data
    assert not any(name.startswith("tests/") for name in names)


@pytest.mark.timeout(INSTALL_TIMEOUT + 300)
def test_the_wheel_alone_runs_lms_in_an_empty_folder(wheel, tmp_path):
    built, _ = wheel
    env = clean_env()
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", venv], cwd=tmp_path, env=env)
    python, lms = venv / "bin" / "python", venv / "bin" / "lms"
    run(
        [python, "-m", "pip", "install", "--quiet", built],
        cwd=tmp_path,
        env=env,
        timeout=INSTALL_TIMEOUT,
    )

    folder = tmp_path / "newcomer"
    folder.mkdir()
    # The code that runs is the installed one, not this checkout.
    where = run(
        [python, "-c", "import lms, web; print(lms.__file__, web.__file__)"], cwd=folder, env=env
    )
    assert str(ROOT) not in where and str(venv) in where

    assert "migrate" in run([lms, "--help"], cwd=folder, env=env)
    run([lms, "migrate"], cwd=folder, env=env)
    database = folder / "var" / "lms.db"
    with sqlite3.connect(database) as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
    assert {"users", "jobs", "alembic_version"} <= tables, tables

    sdl = run([lms, "export-schema"], cwd=folder, env=env)
    assert "type Query" in sdl and "verifyEmail" in sdl
    # The explorer's assets came along as package data.
    assets = run(
        [python, "-c", "from web.explorer import ASSETS; print(*sorted(ASSETS.iterdir()))"],
        cwd=folder,
        env=env,
    )
    assert "graphiql.min.js" in assets and "react.production.min.js" in assets
