"""Load tests and benchmark scripts (run from the repository root, e.g.
`.venv/bin/python -m loadtests.bench_jobs`)."""
