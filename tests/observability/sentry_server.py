"""A local stand-in for Sentry's ingest: receives the SDK's envelopes over HTTP and keeps
the events they carry, so tests can wait for them."""

from __future__ import annotations

import gzip
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def parse_envelope(body: bytes) -> list[tuple[dict, bytes]]:
    """Items of an envelope (header line, then item header and payload pairs)."""
    lines = body.split(b"\n")
    items, index = [], 1
    while index < len(lines):
        if not lines[index].strip():
            index += 1
            continue
        header = json.loads(lines[index])
        if "length" in header:  # a sized payload may contain newlines
            rest = b"\n".join(lines[index + 1 :])
            payload = rest[: header["length"]]
            lines = [b"", *rest[header["length"] + 1 :].split(b"\n")]
            index = 1
        else:
            payload = lines[index + 1]
            index += 2
        items.append((header, payload))
    return items


class SentryServer:
    def __init__(self) -> None:
        self.events: list[dict] = []
        self._changed = threading.Condition()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                encoding = self.headers.get("Content-Encoding")
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "br":  # the SDK's choice when `brotli` is installed
                    import brotli

                    body = brotli.decompress(body)
                with server._changed:
                    for header, payload in parse_envelope(body):
                        if header.get("type") == "event":
                            server.events.append(json.loads(payload))
                    server._changed.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def dsn(self) -> str:
        return f"http://public@127.0.0.1:{self.httpd.server_address[1]}/1"

    def wait_for_events(self, count: int, timeout: float = 60) -> list[dict]:
        with self._changed:
            self._changed.wait_for(lambda: len(self.events) >= count, timeout)
            return list(self.events)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
