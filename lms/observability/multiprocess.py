"""Worker and scheduler metrics: prometheus_client's multiprocess mode.

`write_to_directory` (called by `lms worker` and `lms beat` before any metric object is
made) has each process, and each pool child Celery forks, write its values to files in
`LMS_METRICS_DIR`; the API's `/metrics` adds those files to its own figures
(`directory_families`). API processes sharing a port (`lms serve --processes N`) write
there too, and each one's `/metrics` is then the folder alone (`writes_to_directory`), so
whichever process answers a scrape reports them all. A worker host without an API beside
it serves the sum of its files on `LMS_WORKER_METRICS_PORT` (`serve_directory`).

Kept apart from `metrics.py` on purpose: importing that module makes the metric objects.
"""

from __future__ import annotations

import os
from pathlib import Path

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric

_writing = False


def write_to_directory(path: Path) -> None:
    """Multiprocess mode for this process and its forks: values go to files in `path`.

    Must run before `lms.observability.metrics` is imported (its metric objects take their
    value class when they are made); Celery's pool children inherit it across the fork."""
    import prometheus_client.values as values

    global _writing
    path.mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)
    values.ValueClass = values.MultiProcessValue()
    _writing = True


def writes_to_directory() -> bool:
    """This process's own values are in the folder (not only in its memory)."""
    return _writing


def clear_directory(path: Path) -> None:
    """Forget the files of earlier processes (only when none of them is running)."""
    for stale in path.glob("*.db") if path.is_dir() else ():
        stale.unlink(missing_ok=True)


def directory_families(path: Path | None) -> list[Metric]:
    """The metrics the worker and scheduler processes wrote to `path`, summed per label set."""
    if path is None or not path.is_dir() or not any(path.glob("*.db")):
        return []
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(path))
    return list(registry.collect())


def serve_directory(path: Path, port: int) -> None:
    """Serve the sum of `path`'s files on `port` (a worker host without the API beside it)."""
    from prometheus_client import start_http_server
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(path))
    start_http_server(port, registry=registry)
