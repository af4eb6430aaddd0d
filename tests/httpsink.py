"""A local HTTP receiver on 127.0.0.1 for the export tests: records what was POSTed, answers as told."""

from __future__ import annotations

import http.server
import threading
from contextlib import contextmanager
from typing import Iterator


class Sink:
    """What the receiver got: ``(path, headers, body)`` per request."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.statuses = list(statuses or [])
        self.url = ""


@contextmanager
def receiver(statuses: list[int] | None = None) -> Iterator[Sink]:
    """Serve on a free port of 127.0.0.1; the first requests get ``statuses``, later ones 200."""
    sink = Sink(statuses)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # http.server's name
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            sink.requests.append((self.path, dict(self.headers), body))
            status = sink.statuses.pop(0) if sink.statuses else 200
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    sink.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield sink
    finally:
        server.shutdown()
        server.server_close()


def closed_port() -> str:
    """A URL on 127.0.0.1 where nothing listens."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"
