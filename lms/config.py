"""Configuration from `LMS_*` environment variables (and `.env`).

Every value has an embedded default under `./var/`, so a laptop needs no servers. A wrong
value stops the process with one line naming the variable (`ConfigError`), never a
traceback.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DATABASE_SCHEMES = ("sqlite", "postgresql", "postgres")
BROKER_SCHEMES = ("filesystem", "amqp", "amqps", "pyamqp")
STORAGE_SCHEMES = ("file", "s3")
_URL_SCHEMES = {
    "database_url": DATABASE_SCHEMES,
    "broker_url": BROKER_SCHEMES,
    "storage_url": STORAGE_SCHEMES,
}
DEV_SECRET = "dev-only-insecure-secret-change-me-0123456789"


class ConfigError(Exception):
    """A configuration value that cannot work; the message names the variable."""


class StartupError(ConfigError):
    """The machine, not a setting, stops the start (a busy port, a missing tool); the
    message says what to do. Like `ConfigError`, one line and exit code 2."""


def _scheme(url: str) -> str:
    return urlsplit(url).scheme.split("+", 1)[0]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LMS_", env_file=".env", extra="ignore")

    env: str = Field("development", pattern="^(development|test|production)$")
    debug: bool = False
    var_dir: Path = Path("var")
    database_url: str = ""
    # Each process's PostgreSQL pool; a request that waits longer than the timeout for a
    # connection is answered SERVICE_BUSY (HTTP 503), not left to hang.
    db_pool_size: int = Field(10, ge=1, le=500)
    db_max_overflow: int = Field(20, ge=0, le=500)
    db_pool_timeout: float = Field(30.0, gt=0, le=600)
    broker_url: str = ""
    email_url: str = ""
    storage_url: str = ""
    redis_url: str | None = None
    secret_key: str = DEV_SECRET
    public_url: str = "http://127.0.0.1:8000"
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    # How long the API keeps an idle HTTP connection open. Longer than a load balancer's
    # idle timeout (60 s on AWS ALB), so the balancer, not the server, closes it: a server
    # closing first races the next request on that connection (a reset, a 502). A
    # student's browser reading a question for 10 s reuses its connection, no new one.
    keep_alive_seconds: float = Field(75.0, gt=0, le=3600)
    # API processes sharing the port (`lms serve`): one event loop uses one core, so a
    # busy host runs one per core. More than one needs Redis (rate limits and presence
    # are then shared, not kept in each process's memory).
    api_processes: int = Field(1, ge=1, le=64)
    graphiql: bool = True
    cors_origins: list[str] = []
    mail_sender: str = "Lyceum <no-reply@lyceum.local>"
    access_token_minutes: int = Field(15, ge=1, le=24 * 60)
    max_body_bytes: int = Field(1_048_576, ge=1024)
    query_max_depth: int = Field(15, ge=2, le=100)  # GraphiQL's introspection needs 13
    query_max_aliases: int = Field(30, ge=1)
    query_max_cost: int = Field(50_000, ge=10)  # web/query_cost.py: 100 full course cards exceed it
    job_max_attempts: int = Field(5, ge=1, le=50)
    relay_after_seconds: float = Field(10.0, ge=0)
    worker_concurrency: int = Field(2, ge=1, le=64)
    log_format: str = Field("text", pattern="^(text|json)$")
    log_level: str = Field("info", pattern="(?i)^(debug|info|warning|error)$")
    # Educators' publishCourse waits for an admin's approval (PENDING_REVIEW) when set.
    course_review_required: bool = False
    # Whole-response cache of anonymous public catalog queries (web/response_cache.py).
    response_cache: bool = True
    response_cache_ttl_seconds: float = Field(30.0, gt=0, le=3600)  # bounds staleness the
    # catalog version does not track (enrollment counts, ratings, covers, instructor names)
    response_cache_max_entries: int = Field(10_000, ge=1)
    response_cache_max_bytes: int = Field(64 * 1024 * 1024, ge=64 * 1024)
    # Users module: credentials, tokens, profiles.
    app_url: str = ""  # the front end, for links in emails; empty means public_url
    refresh_token_days: int = Field(30, ge=1, le=365)
    email_verification_hours: int = Field(48, ge=1, le=24 * 30)
    password_reset_minutes: int = Field(60, ge=5, le=24 * 60)
    password_min_length: int = Field(10, ge=8, le=128)
    # argon2id cost; tests may lower it for speed, production keeps the library defaults.
    password_hash_time_cost: int = Field(3, ge=1, le=20)
    password_hash_memory_kib: int = Field(65536, ge=1024, le=4 * 1024 * 1024)
    password_hash_parallelism: int = Field(4, ge=1, le=16)
    avatar_max_bytes: int = Field(512 * 1024, ge=1024)
    # Rate limits as "COUNT/SECONDS" per fixed window; Redis when redis_url is set.
    rate_limit_prefix: str = "lms:rl:"
    rate_login_ip: str = Field("60/60", pattern=r"^\d+/\d+$")
    # Failed sign-ins count per account *and* source address, so failures from one address
    # never lock the owner out from another. After `login_free_failures` each failure adds a
    # delay (2, 4, 8 … s); at `login_lock_failures` that source is locked out of that account
    # for `login_lock_seconds` and the owner is emailed an unlock link.
    login_free_failures: int = Field(5, ge=1, le=100)
    login_lock_failures: int = Field(10, ge=2, le=1000)
    login_lock_seconds: int = Field(900, ge=1, le=24 * 3600)
    login_unlock_link_hours: int = Field(24, ge=1, le=24 * 7)
    # A second use of a refresh token this soon after its rotation (two tabs refreshing at
    # once) gets the same successor instead of revoking the session; later reuse revokes it.
    refresh_grace_seconds: int = Field(10, ge=0, le=120)
    # Proxies (CIDRs) whose X-Forwarded-For is believed: the client address for rate limits.
    trusted_proxies: list[str] = Field(default_factory=list)
    rate_register_ip: str = Field("20/3600", pattern=r"^\d+/\d+$")
    rate_register_account: str = Field("10/3600", pattern=r"^\d+/\d+$")
    rate_reset_ip: str = Field("10/3600", pattern=r"^\d+/\d+$")
    rate_reset_account: str = Field("3/3600", pattern=r"^\d+/\d+$")
    rate_refresh_ip: str = Field("120/60", pattern=r"^\d+/\d+$")
    rate_refresh_account: str = Field("30/60", pattern=r"^\d+/\d+$")

    # Content module: storage backends, uploads, streaming URLs and the media pipeline.
    s3_endpoint_url: str | None = None  # any S3-compatible store; empty means AWS
    s3_region: str = "us-east-1"
    s3_access_key_id: str | None = None  # empty: boto3's usual credential chain
    s3_secret_access_key: str | None = None
    s3_multipart_threshold_bytes: int = Field(64 * 1024 * 1024, ge=5 * 1024 * 1024)
    upload_url_minutes: int = Field(60, ge=1, le=7 * 24 * 60)
    stream_url_minutes: int = Field(240, ge=1, le=7 * 24 * 60)  # S3 presigning caps at 7 days
    # Cover and avatar links: long-lived (pages and caches hold them), S3 caps at 7 days.
    image_url_minutes: int = Field(24 * 60, ge=1, le=7 * 24 * 60)
    video_max_bytes: int = Field(10 * 1024**3, ge=1024)
    resource_max_bytes: int = Field(200 * 1024**2, ge=1024)
    # Resumable (multipart) video uploads: the part size (S3 needs 5 MiB at least, except
    # for the last part; it grows when a file would need more than 10,000 parts) and how
    # long an unfinished upload is kept before the cleanup aborts it.
    upload_part_bytes: int = Field(16 * 1024**2, ge=5 * 1024**2, le=5 * 1024**3)
    multipart_upload_hours: int = Field(24, ge=1, le=7 * 24)
    video_min_seconds: float = Field(1.0, ge=0)
    video_max_seconds: float = Field(4 * 3600.0, gt=0)
    video_max_width: int = Field(4096, ge=16)
    video_max_height: int = Field(2160, ge=16)
    # Time limits of the video ingest steps: past one, the step ends FAILED with
    # STEP_TIME_LIMIT and its ffmpeg is killed (a hung tool never holds a worker for good).
    # Transcoding and images scale with the longest source accepted (video_max_seconds).
    video_step_time_limit_seconds: float = Field(1800.0, gt=0)  # validate, finalize
    video_transcode_time_factor: float = Field(3.0, gt=0)
    video_images_time_factor: float = Field(1.0, gt=0)
    media_segment_seconds: float = Field(4.0, gt=0, le=20)
    media_preset: str = Field(
        "veryfast", pattern=r"^(ultrafast|superfast|veryfast|faster|fast|medium|slow)$"
    )
    media_work_dir: Path | None = None  # scratch space for ffmpeg; default var_dir/"work"
    # Observability (lms/observability): each part is off until configured.
    sentry_dsn: str = ""
    sentry_environment: str = ""  # empty: LMS_ENV
    sentry_release: str = ""  # empty: lyceum@<installed version>
    sentry_traces_sample_rate: float = Field(0.0, ge=0, le=1)
    sentry_queue_size: int = Field(100, ge=1)  # events waiting to be sent; more are dropped
    otel_endpoint: str = ""  # OTLP/HTTP base URL, e.g. http://collector:4318
    otel_sample_ratio: float = Field(1.0, ge=0, le=1)  # of new traces (parents are followed)
    otel_service_name: str = "lyceum"
    otel_queue_size: int = Field(2048, ge=1)  # spans waiting to be exported; more are dropped
    # Worker and scheduler processes write their metrics here; the API's /metrics adds them
    # up (lms/observability/metrics.py). Default var_dir/"metrics".
    metrics_dir: Path | None = None
    worker_metrics_port: int = Field(0, ge=0, le=65535)  # 0: no port of the worker's own

    @field_validator("database_url", "broker_url", "storage_url")
    @classmethod
    def _known_scheme(cls, value: str, info) -> str:
        allowed = _URL_SCHEMES[info.field_name]
        if value and _scheme(value) not in allowed:
            raise ValueError(f"unknown scheme {_scheme(value)!r}; use one of {allowed}")
        return value

    @field_validator("email_url")
    @classmethod
    def _email(cls, value: str) -> str:
        if value:
            from lms.mail import validate_email_url

            validate_email_url(value)
        return value

    @field_validator("sentry_dsn")
    @classmethod
    def _sentry_dsn(cls, value: str) -> str:
        from lms.observability.sentry import check_dsn

        return check_dsn(value) if value else value

    @field_validator("otel_endpoint")
    @classmethod
    def _otel_endpoint(cls, value: str) -> str:
        if value and (_scheme(value) not in ("http", "https") or not urlsplit(value).hostname):
            raise ValueError("an OTLP/HTTP endpoint is a URL like http://collector:4318")
        return value.rstrip("/")

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        import ipaddress

        for cidr in value:
            ipaddress.ip_network(cidr, strict=False)  # ValueError names the bad entry
        return value

    @model_validator(mode="after")
    def _defaults(self) -> "Settings":
        # Embedded defaults live under var/ so one folder holds all local state.
        var = self.var_dir
        if not self.database_url:
            self.database_url = f"sqlite:///{var / 'lms.db'}"
        if not self.broker_url:
            self.broker_url = f"filesystem://{var / 'broker'}"
        if not self.email_url:
            self.email_url = f"outbox:{var / 'outbox'}"
        if not self.storage_url:
            self.storage_url = f"file:{var / 'storage'}"
        if self.metrics_dir is None:
            self.metrics_dir = var / "metrics"
        if self.env == "production" and self.secret_key == DEV_SECRET:
            raise ValueError("LMS_SECRET_KEY must be set in production")
        if self.env == "production":
            self.graphiql = False
        if self.api_processes > 1 and not self.redis_url:
            raise ValueError(
                "LMS_API_PROCESSES above 1 needs LMS_REDIS_URL: the API processes share "
                "rate limits and presence through Redis"
            )
        return self

    @property
    def links_base(self) -> str:
        """Where links in emails point: the front end if configured, else the API."""
        return (self.app_url or self.public_url).rstrip("/")

    @property
    def embedded(self) -> bool:
        return _scheme(self.database_url) == "sqlite"

    @property
    def broker_is_filesystem(self) -> bool:
        return _scheme(self.broker_url) == "filesystem"

    @property
    def keeps_state_in_var_dir(self) -> bool:
        """Whether the database, broker, outbox or storage live under `var_dir` (a server
        deployment with none of them may run on a read-only file system)."""
        return (
            self.embedded
            or self.broker_is_filesystem
            or self.email_url.startswith("outbox:")
            or _scheme(self.storage_url) == "file"
        )


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "settings"
    message = first["msg"].removeprefix("Value error, ")
    if not first["loc"]:
        return message
    return f"LMS_{field.upper()}: {message}"


def load_settings(**overrides: object) -> Settings:
    """Read the environment; raise `ConfigError` naming the bad variable."""
    try:
        return Settings(**overrides)
    except ValidationError as error:
        raise ConfigError(_describe(error)) from None


def check_domain_settings() -> None:
    """Load the domains' own settings (`LMS_ADMIN_*`, `LMS_ENROLLMENT_*`) at start-up, so a
    bad value stops the process with one line instead of failing a later request."""
    from lms.domains import settings_classes

    for settings_class in settings_classes():
        try:
            settings_class()
        except ValidationError as error:
            prefix = settings_class.model_config["env_prefix"]
            first = error.errors()[0]
            field = ".".join(str(part) for part in first["loc"]).upper()
            raise ConfigError(
                f"{prefix}{field}: {first['msg'].removeprefix('Value error, ')}"
            ) from None


def prepare_var_dir(settings: Settings) -> None:
    """Create `LMS_VAR_DIR` (where the embedded database, broker, outbox, storage and the
    scheduler's state live) and prove it writable; `ConfigError` naming it otherwise."""
    folder = settings.var_dir
    probe = folder / f".write-test-{os.getpid()}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe.touch()
        probe.unlink()
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise ConfigError(
            f"LMS_VAR_DIR: cannot write {folder.resolve()} ({reason}); "
            "point it at a folder this user can write"
        ) from None


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
