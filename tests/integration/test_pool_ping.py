"""The pool's pre-ping without a round trip (`lms.db._socket_ping`): a pooled connection
whose backend was terminated is found dead at checkout and replaced, so the caller's
statement runs; a live one is handed out as it is."""

from __future__ import annotations

import os
import select

import psycopg
from sqlalchemy import text

from lms.config import get_settings
from lms.db import _socket_ping, build_async_engine, build_sync_engine
from tests.conftest import PG_ADMIN_URL


def terminate(pid: int) -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])


def test_a_live_connection_passes_and_a_terminated_one_fails(database):
    with psycopg.connect(database) as connection:
        assert _socket_ping(connection)
        terminate(connection.info.backend_pid)
        # The backend's farewell reaches the socket: wait for it rather than sleep.
        assert select.select([connection.pgconn.socket], [], [], 10)[0]
        assert not _socket_ping(connection)


def test_a_connection_whose_descriptor_is_above_select_s_limit_is_pinged_too(database):
    # An API holding hundreds of keep-alive connections opens its database sockets above
    # descriptor 1024, where select() raises "filedescriptor out of range" (every request
    # answered HTTP 500 at 500 connected students).
    taken = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        with psycopg.connect(database) as connection:
            assert connection.pgconn.socket > 1024
            assert _socket_ping(connection)
            terminate(connection.info.backend_pid)
            poller = select.poll()
            poller.register(connection.pgconn.socket, select.POLLIN)
            assert poller.poll(10_000)  # the backend's farewell reached the socket
            assert not _socket_ping(connection)
    finally:
        for descriptor in taken:
            os.close(descriptor)


def test_a_pooled_connection_whose_backend_was_terminated_is_replaced_at_checkout():
    engine = build_sync_engine(get_settings())
    try:
        with engine.connect() as connection:
            first = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
            socket = connection.connection.driver_connection.pgconn.socket
        terminate(first)
        assert select.select([socket], [], [], 10)[0]
        with engine.connect() as connection:  # no OperationalError: replaced at checkout
            second = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
        assert second != first
    finally:
        engine.dispose()


async def test_the_api_engine_replaces_a_terminated_connection_too():
    engine = build_async_engine(get_settings())
    try:
        async with engine.connect() as connection:
            first = (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            raw = await connection.get_raw_connection()
            socket = raw.driver_connection.pgconn.socket
        terminate(first)
        assert select.select([socket], [], [], 10)[0]
        async with engine.connect() as connection:
            second = (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        assert second != first
    finally:
        await engine.dispose()
