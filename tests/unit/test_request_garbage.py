"""The shell's part of a GraphQL request (validation rules, execution, the context and its
loaders) is freed by reference counting as the request ends, not left to the garbage
collector: under load, each young collection that walked whole requests (executor,
context, session, results) stopped the event loop for 20-40 ms, and every request in
flight waited."""

from __future__ import annotations

import gc

from ariadne import graphql

from lms.config import get_settings
from web.context import Context, Services
from web.graphql_http import SHELL_OPTIONS, validation_rules
from web.schema import build_schema

QUERY = "query($skip: Boolean!) { __typename @skip(if: $skip) }"
REQUESTS = 50


async def request(services: Services) -> None:
    context = Context(services)
    assert context.loaders is not None  # as a resolver that batches reads makes them
    data = {"query": QUERY, "variables": {"skip": False}}
    success, result = await graphql(
        build_schema(),
        data,
        context_value=context,
        validation_rules=validation_rules(services),
        **SHELL_OPTIONS,  # the API's parser, validator, executor and error reporting
    )
    assert success and result == {"data": {"__typename": "Query"}}, result


async def test_a_request_leaves_nothing_to_the_garbage_collector():
    services = Services(get_settings(), sessions=None, hub=None)
    for _ in range(3):  # caches warm (parse, validation)
        await request(services)
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)  # what a collection frees is kept in gc.garbage
    try:
        for _ in range(REQUESTS):
            await request(services)
        gc.collect()
        left = sorted({type(thing).__qualname__ for thing in gc.garbage})
        per_request = len(gc.garbage) / REQUESTS
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    # Before: a validation rule class made per request, graphql-core's executor holding
    # its own bound methods, the loaders holding the context's: ~70 objects a request.
    assert per_request < 1, (per_request, left)
