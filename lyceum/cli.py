"""The `lms` command: run, migrate and inspect Lyceum.

lms up              migrate, then API + worker + scheduler + monitor, supervised (lyceum.supervisor)
lms serve           the API (hypercorn)
lms worker          a Celery worker (-Q queues, -c concurrency)
lms beat            the scheduler (relay of unpublished jobs, periodic work)
lms monitor         the Celery events monitor (live task events, worker heartbeats)
lms migrate         apply database migrations
lms export-schema   print the GraphQL SDL
lms create-admin    create an admin account (the only way besides another admin)
"""

from __future__ import annotations

import argparse
import errno
import os
import shutil
import socket
import sys
from collections.abc import Sequence

from lms.config import (
    ConfigError,
    Settings,
    StartupError,
    check_domain_settings,
    get_settings,
    prepare_var_dir,
)
from lms.jobs.queues import LONG_QUEUES, QUEUES
from lms.logs import configure_logging
from lms.observability.sentry import init_sentry
from lms.observability.tracing import init_tracing

MEDIA_TOOLS = ("ffmpeg", "ffprobe")
LISTEN_BACKLOG = 1024  # connections waiting for an accept: an exam opening is a burst


def _checked_settings(
    *, database: bool = True, var_dir: bool = False, component: str | None = None
) -> Settings:
    """Settings checked before a command starts; `var_dir`: the command itself keeps state
    there (beat's schedule), whatever the configuration; `component`: a long-running
    process that reports errors and traces (before any database engine exists, so every
    engine is instrumented)."""
    settings = get_settings()
    check_domain_settings()
    configure_logging(settings.log_format, settings.log_level)
    if component:
        init_sentry(settings, component)
        init_tracing(settings, component)
    if var_dir or settings.keeps_state_in_var_dir:
        prepare_var_dir(settings)
    if database:
        from lms.db import check_database

        check_database(settings)
    return settings


def say(line: str) -> None:
    """A status line of a long-running command: `lms: …` on stdout, or a JSON log record
    when LMS_LOG_FORMAT=json (so a log shipper reads every line)."""
    if get_settings().log_format == "json":
        import logging

        logging.getLogger("lms").info(line)
    else:
        print(f"lms: {line}", flush=True)


def port_in_use(host: str, port: int) -> str:
    return f"port {port} is in use; set LMS_PORT or stop the other server" + (
        f" (on {host})" if host not in ("127.0.0.1", "localhost") else ""
    )


def listen_failure(error: OSError, host: str, port: int) -> StartupError | None:
    """The one line for a socket that cannot listen, or None for an unexpected error."""
    if error.errno == errno.EADDRINUSE:
        return StartupError(port_in_use(host, port))
    if error.errno == errno.EACCES:
        return StartupError(f"port {port} needs root privileges; set LMS_PORT above 1023")
    if error.errno == errno.EADDRNOTAVAIL or isinstance(error, socket.gaierror):
        return StartupError(
            f"cannot listen on {host}: not an address of this machine; "
            "set LMS_HOST (127.0.0.1, or 0.0.0.0 for every interface)"
        )
    return None


def check_port_free(host: str, port: int) -> None:
    """Bind and release the API's address, so `lms up` and `lms serve` say what is wrong
    before they start anything."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as probe:
        try:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as hypercorn does
            probe.bind((host, port))
        except OSError as error:
            raise (listen_failure(error, host, port) or error) from None


def cmd_migrate(_args) -> int:
    from lms.migrate import upgrade

    settings = _checked_settings()
    upgrade(settings)
    say(f"database at head ({settings.database_url.split('@')[-1]})")
    return 0


def cmd_makemigration(args) -> int:
    from lms.migrate import new_revision

    new_revision(args.message, _checked_settings())
    return 0


def cmd_serve(args) -> int:
    """The API: one process, or `LMS_API_PROCESSES` (`--processes`) of them sharing the port
    under a supervisor (`_serve_processes`)."""
    if args.listen_fd is not None:  # one of several: its metrics go to the shared folder
        _shared_metrics(serve=False)  # before the metric objects exist (web.app makes them)
    processes = args.processes or get_settings().api_processes
    if args.listen_fd is None and processes > 1:
        if not get_settings().redis_url:  # --processes given; LMS_API_PROCESSES is checked
            raise ConfigError(
                "more than one API process needs LMS_REDIS_URL: they share rate limits "
                "and presence through Redis"
            )
        # The supervisor serves nothing: no error reporting or tracing (no threads: it forks).
        settings = _checked_settings()
        host, port = args.host or settings.host, args.port or settings.port
        return _serve_processes(args, host, port, processes)
    settings = _checked_settings(component="api")
    host, port = args.host or settings.host, args.port or settings.port
    return _serve_one(args, settings, host, port)


def _serve_one(args, settings: Settings, host: str, port: int) -> int:
    import asyncio
    import logging

    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    from web import gc_tuning
    from web.app import create_app

    config = Config()
    # Alone, it binds the address; one of several accepts on the socket they inherited.
    shared = args.listen_fd is not None
    config.bind = [f"fd://{args.listen_fd}"] if shared else [f"{host}:{port}"]
    # Hypercorn's own loggers, so its lines share our format (and JSON when asked).
    config.accesslog = logging.getLogger("hypercorn.access") if args.access_log else None
    config.errorlog = logging.getLogger("hypercorn.error")
    config.graceful_timeout = 5
    config.keep_alive_timeout = settings.keep_alive_seconds
    config.backlog = LISTEN_BACKLOG  # asyncio listens again with it, on a shared socket too
    if not shared:
        check_port_free(host, port)  # before start-up work (the event bus) logs anything
    app = create_app(settings)

    @app.quart.before_serving  # after the app's own start-up: what it made is long-lived
    async def tune_gc() -> None:
        gc_tuning.tune()

    try:
        asyncio.run(serve(app, config))
    except OSError as error:
        raise (listen_failure(error, host, port) or error) from None
    return 0


def _serve_processes(args, host: str, port: int, processes: int) -> int:
    """`processes` API processes accepting on one socket bound here: the kernel hands each
    connection to whichever is waiting, so a process busy with a request takes none. A
    process that dies is restarted (lyceum.supervisor) while the others go on answering."""
    from prometheus_client.multiprocess import mark_process_dead

    from lyceum.supervisor import Supervisor

    settings = get_settings()
    listener = _listening_socket(host, port)
    argv = [sys.executable, "-m", "lyceum.cli", "serve", "--listen-fd", str(listener.fileno())]
    argv += ["--access-log"] if args.access_log else []

    def forget(pid: int) -> None:  # its live gauges (connections, subscriptions) end with it
        mark_process_dead(pid, str(settings.metrics_dir))

    supervisor = Supervisor(
        [(f"api-{number}", argv) for number in range(1, processes + 1)],
        pass_fds=(listener.fileno(),),
        on_exit=forget,
        say=say,
    )
    say(f"API on http://{host}:{port} in {processes} processes")
    try:
        return supervisor.run()
    finally:
        listener.close()


def _listening_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as hypercorn does
    try:
        listener.bind((host, port))
    except OSError as error:
        listener.close()
        raise (listen_failure(error, host, port) or error) from None
    listener.listen(LISTEN_BACKLOG)
    listener.set_inheritable(True)
    return listener


def missing_media_tools() -> list[str]:
    return [tool for tool in MEDIA_TOOLS if shutil.which(tool) is None]


def _quiet_root_warning(settings: Settings) -> None:
    """Celery prints an 8-line SecurityWarning on every start as root. A development box
    (scripts/run as root) cannot act on it; production gets one line naming the fix."""
    import logging
    import warnings

    from celery.exceptions import SecurityWarning

    warnings.filterwarnings("ignore", "You're running the worker with superuser", SecurityWarning)
    if settings.env == "production":
        logging.getLogger("lms.worker").warning(
            "the worker runs as root; run it as an unprivileged user (lms worker --uid USER)"
        )


def _shared_metrics(*, serve: bool, owner: str | None = None) -> None:
    """Metrics of this process and its pool children go to LMS_METRICS_DIR, where the API's
    /metrics reads them; a worker also serves them on LMS_WORKER_METRICS_PORT if set.
    `owner`: the user a root-started worker becomes (`--uid`), who must write there too."""
    from lms.observability.multiprocess import serve_directory, write_to_directory

    settings = get_settings()
    write_to_directory(settings.metrics_dir)
    if owner is not None:
        import pwd

        user = pwd.getpwnam(owner) if not owner.isdigit() else pwd.getpwuid(int(owner))
        os.chown(settings.metrics_dir, user.pw_uid, user.pw_gid)
    if serve and settings.worker_metrics_port:
        serve_directory(settings.metrics_dir, settings.worker_metrics_port)


def cmd_worker(args) -> int:
    _checked_settings(component="worker")  # before the pool forks: children inherit it
    if "media" in args.queues.split(",") and (missing := missing_media_tools()):
        raise StartupError(
            f"the media queue needs {' and '.join(missing)} on PATH; install ffmpeg "
            "(Debian: apt-get install ffmpeg) or leave media out of -Q"
        )
    if hasattr(os, "geteuid") and os.geteuid() == 0 and not args.uid:
        _quiet_root_warning(get_settings())
    _shared_metrics(serve=True, owner=args.uid)
    from tasks.app import app

    quiet = ["--quiet"] if get_settings().log_format == "json" else []  # no text banner
    argv = [
        *quiet,
        "worker",
        "--loglevel",
        args.loglevel or get_settings().log_level,
        "-Q",
        args.queues,
        "-c",
        str(args.concurrency or get_settings().worker_concurrency),
        "--hostname",
        args.hostname,
        # Long work takes one message at a time; short jobs keep a few in hand so a
        # pool child never idles waiting for the next delivery.
        "--prefetch-multiplier",
        "1" if LONG_QUEUES & set(args.queues.split(",")) else "4",
        "-E",  # task events, for live monitoring
        "--without-mingle",  # cancellation is in the jobs table; skip the 1 s start-up sync
    ]
    if args.uid:
        argv += ["--uid", args.uid] + (["--gid", args.gid] if args.gid else [])
    app.worker_main(argv)
    return 0


def cmd_beat(args) -> int:
    _checked_settings(var_dir=True, component="scheduler")  # var_dir: its schedule file
    _shared_metrics(serve=False)
    from tasks.app import app
    from tasks.beat import StoppingBeat

    app.Beat = app.subclass_with_self(StoppingBeat)
    quiet = ["--quiet"] if get_settings().log_format == "json" else []  # no text banner
    app.start([*quiet, "beat", "--loglevel", args.loglevel or get_settings().log_level])
    return 0


def cmd_monitor(args) -> int:
    from lms.admin.monitor import MonitorOptions, run_monitor

    return run_monitor(_checked_settings(), MonitorOptions(grace_seconds=args.grace))


def cmd_export_schema(_args) -> int:
    from web.schema import printed_schema

    sys.stdout.write(printed_schema())
    return 0


def cmd_relay(_args) -> int:
    settings = _checked_settings()
    _shared_metrics(serve=False)  # its count joins the scheduler's on /metrics
    from lms.jobs.service import relay_unpublished
    from lms.payments.service.handling_jobs import relay_stored

    queued = relay_stored(settings)  # their jobs are published as they are recorded
    print(f"lms: published {relay_unpublished(settings, older_than=0)} job(s)")
    print(f"lms: queued {queued} stored Stripe webhook delivery(ies)")
    return 0


def cmd_create_admin(args) -> int:
    """Create an admin account; the password comes from stdin (--password-stdin) or a prompt."""
    import getpass

    from lms.db import session_scope
    from lms.errors import LmsError
    from lms.users import passwords, service

    settings = _checked_settings()
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            print("lms: the passwords differ", file=sys.stderr)
            return 1
    try:
        email = service.normalize_email(args.email)
        passwords.check_strength(password, email=email, settings=settings)
        password_hash = passwords.hash_password(password, settings)
        with session_scope(settings) as session:
            user = service.create_admin(
                session, email=email, name=args.name, password_hash=password_hash
            )
    except LmsError as error:
        print(f"lms: {error.code}: {error.message}", file=sys.stderr)
        return 1
    print(f"lms: admin {user.email} created (id {user.id})")
    return 0


def cmd_up(args) -> int:
    """Everything on one machine: migrate, then API, worker, scheduler and monitor as
    supervised children (restarted if they die)."""
    from lyceum.supervisor import Supervisor

    settings = _checked_settings()
    check_port_free(settings.host, settings.port)
    cmd_migrate(args)
    from lms.observability.multiprocess import clear_directory

    clear_directory(settings.metrics_dir)  # every process writing there starts now
    me = [sys.executable, "-m", "lyceum.cli"]
    queues = list(QUEUES)
    if missing := missing_media_tools():
        # Everything but video still works; a stack that refused to start would help no one.
        queues.remove("media")
        say(
            f"{' and '.join(missing)} not found: the worker leaves the media queue alone "
            "(videos wait until ffmpeg is installed and lms up restarted)"
        )
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    base = f"http://{host}:{settings.port}"

    def banner() -> None:
        say(f"up — GraphQL {base}/graphql · health {base}/healthz · metrics {base}/metrics")
        say(
            f"database {settings.database_url} · broker {settings.broker_url}"
            f" · email {settings.email_url}"
        )
        say("Ctrl-C stops everything")

    supervisor = Supervisor(
        [
            ("api", [*me, "serve"]),
            ("worker", [*me, "worker", "-c", "1", "-Q", ",".join(queues)]),
            ("beat", [*me, "beat", "--loglevel", "warning"]),
            ("monitor", [*me, "monitor"]),
        ],
        health_url=f"{base}/healthz",
        on_ready=banner,
        say=say,
    )
    exit_code = supervisor.run()
    say("stopped")
    return exit_code


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: want a whole number of at least 1")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lms", description="Lyceum learning platform")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser(
        "up", help="migrate, then run API + worker + scheduler + events monitor"
    ).set_defaults(func=cmd_up)
    serve = sub.add_parser("serve", help="run the API")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--access-log", action="store_true")
    serve.add_argument(
        "--processes", type=_positive, help="API processes sharing the port (LMS_API_PROCESSES)"
    )
    serve.add_argument("--listen-fd", type=int, help=argparse.SUPPRESS)  # set by --processes
    serve.set_defaults(func=cmd_serve)
    worker = sub.add_parser("worker", help="run a worker")
    worker.add_argument("-Q", "--queues", default=",".join(QUEUES))
    worker.add_argument("-c", "--concurrency", type=int)
    worker.add_argument("-n", "--hostname", default=f"worker-{os.getpid()}@%h")
    worker.add_argument("--loglevel", help="default: LMS_LOG_LEVEL")
    worker.add_argument("--uid", help="drop privileges to this user (when started as root)")
    worker.add_argument("--gid", help="and this group")
    worker.set_defaults(func=cmd_worker)
    beat = sub.add_parser("beat", help="run the scheduler")
    beat.add_argument("--loglevel", help="default: LMS_LOG_LEVEL")
    beat.set_defaults(func=cmd_beat)
    monitor = sub.add_parser("monitor", help="run the Celery events monitor")
    monitor.add_argument(
        "--grace", type=float, default=5.0, help="seconds a job row may lag its Celery events"
    )
    monitor.set_defaults(func=cmd_monitor)
    sub.add_parser("migrate", help="apply database migrations").set_defaults(func=cmd_migrate)
    make = sub.add_parser("makemigration", help="autogenerate a migration from the models")
    make.add_argument("message")
    make.set_defaults(func=cmd_makemigration)
    sub.add_parser("export-schema", help="print the GraphQL SDL").set_defaults(
        func=cmd_export_schema
    )
    sub.add_parser("relay", help="publish committed-but-unpublished jobs now").set_defaults(
        func=cmd_relay
    )
    admin = sub.add_parser("create-admin", help="create an admin account")
    admin.add_argument("email")
    admin.add_argument("--name", default="Administrator")
    admin.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    admin.set_defaults(func=cmd_create_admin)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except ConfigError as error:
        kind = "" if isinstance(error, StartupError) else "configuration error: "
        print(f"lms: {kind}{error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
