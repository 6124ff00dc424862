"""The API as a class of students holds it: hundreds of browsers, each with a connection it
keeps open while the student reads the next question."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid

import httpx
import pytest

from tests.support import start_api

COURSE = 'query { course(id: "%s") { id } }'


@pytest.fixture(scope="module")
def api():
    process, base_url = start_api()
    yield base_url
    process.stop()


def get_health(connection: socket.socket) -> bytes:
    connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: lyceum\r\n\r\n")
    answer = b""
    while b"\r\n\r\n" not in answer:
        chunk = connection.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        answer += chunk
    return answer.split(b"\r\n", 1)[0]


def test_an_idle_browser_connection_is_kept_while_the_student_reads(api):
    host, port = api.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as connection:
        assert get_health(connection).endswith(b"200 ")
        # A question read for six seconds: longer than hypercorn's own keep-alive (5 s),
        # after which it would close the connection under the student's next request.
        time.sleep(6)
        assert get_health(connection).endswith(b"200 ")


async def read_courses(base_url: str, count: int) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        query = {"query": COURSE % uuid.uuid4()}
        return await asyncio.gather(*(client.post("/graphql", json=query) for _ in range(count)))


def test_requests_are_answered_while_a_thousand_connections_are_open(api):
    host, port = api.removeprefix("http://").split(":")
    held = []
    try:
        for _ in range(1100):  # the API's own descriptors go past select()'s 1024
            connection = socket.create_connection((host, int(port)), timeout=30)
            held.append(connection)
            assert get_health(connection).endswith(b"200 ")  # accepted: a descriptor there
        # Reads at once open database connections above descriptor 1024; the next round
        # checks them out of the pool again, which pings them first.
        for _ in range(2):
            for response in asyncio.run(read_courses(api, 30)):
                assert response.status_code == 200, response.text
                body = response.json()
                assert body["data"] == {"course": None} or all(
                    error["extensions"]["code"] == "NOT_FOUND" for error in body["errors"]
                ), body
    finally:
        for connection in held:
            connection.close()
