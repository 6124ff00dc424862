"""Worker and scheduler metrics: prometheus_client's multiprocess mode.

`write_to_directory` (called by `lms worker` and `lms beat` before any metric object is
made) has each process, and each pool child Celery forks, write its values to files in
`LMS_METRICS_DIR`; the API's `/metrics` adds those files to its own figures
(`directory_families`). A worker host without an API beside it serves the sum of its files
on `LMS_WORKER_METRICS_PORT` (`serve_directory`).

Kept apart from `metrics.py` on purpose: importing that module makes the metric objects.
"""

from __future__ import annotations

import os
from pathlib import Path

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric


def write_to_directory(path: Path) -> None:
    """Multiprocess mode for this process and its forks: values go to files in `path`.

    Must run before `lms.observability.metrics` is imported (its metric objects take their
    value class when they are made); Celery's pool children inherit it across the fork."""
    import prometheus_client.values as values

    path.mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)
    values.ValueClass = values.MultiProcessValue()


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
