"""The API process's garbage collector: fewer and shorter pauses of the event loop.

A collection stops the loop and every thread. With CPython's defaults (a young collection
every 700 net container allocations, a full one walking every object) a profiled messaging
run (loadtests/profile_communication.py, 1,000 sends) paused the API 563 times in the young
generation and five full collections took 5.6 s, one of them 1.4 s (at load ~20). So, once
start-up is done (`lms serve` only: tests build many apps in one process):

- `gc.freeze()`: what start-up made (the schema, the models, the SQLAlchemy and graphql
  caches) goes to a permanent generation that no collection walks again;
- the young generation collects every `YOUNG` allocations instead of 700: a send allocates a
  few hundred containers, most of them freed by reference counting, so collections come
  about once per 50 sends and each is still short.
"""

from __future__ import annotations

import gc

YOUNG = 20_000


def tune() -> None:
    gc.collect()
    gc.freeze()
    _young, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG, middle, old)
