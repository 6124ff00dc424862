"""A wrong configuration stops the process with one line naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from lms.config import ConfigError, load_settings
from tests.support import ROOT


def run_lms(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "lyceum.cli", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("database_url", "mysql://root@localhost/lms"),
        ("broker_url", "kafka://localhost"),
        ("email_url", "ftp://mail.example"),
        ("storage_url", "gcs://bucket"),
    ],
)
def test_unknown_scheme_names_the_variable(variable, value):
    with pytest.raises(ConfigError) as error:
        load_settings(**{variable: value})
    assert str(error.value).startswith(f"LMS_{variable.upper()}:")


def test_embedded_defaults_live_under_var(tmp_path):
    settings = load_settings(
        var_dir=tmp_path, database_url="", broker_url="", email_url="", storage_url=""
    )
    assert settings.database_url == f"sqlite:///{tmp_path / 'lms.db'}"
    assert settings.broker_url == f"filesystem://{tmp_path / 'broker'}"
    assert settings.email_url == f"outbox:{tmp_path / 'outbox'}"
    assert settings.embedded and settings.broker_is_filesystem


def test_production_refuses_the_development_secret():
    with pytest.raises(ConfigError) as error:
        load_settings(env="production", secret_key="dev-only-insecure-secret-change-me-0123456789")
    assert "LMS_SECRET_KEY" in str(error.value)


def test_cli_reports_a_bad_value_in_one_line():
    result = run_lms("migrate", LMS_DATABASE_URL="mysql://root@localhost/lms")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "lms: configuration error: LMS_DATABASE_URL: unknown scheme 'mysql'; "
        "use one of ('sqlite', 'postgresql', 'postgres')"
    ]


def test_cli_reports_an_unreachable_database_in_one_line():
    result = run_lms("serve", LMS_DATABASE_URL="postgresql://postgres@127.0.0.1:1/nothing")
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("lms: configuration error: LMS_DATABASE_URL: database unreachable")
    assert "Traceback" not in result.stdout + result.stderr


def test_cli_reports_a_bad_domain_setting_in_one_line():
    result = run_lms("migrate", LMS_ENROLLMENT_VIDEO_COMPLETION_SHARE="7")
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("lms: configuration error: LMS_ENROLLMENT_VIDEO_COMPLETION_SHARE:")
