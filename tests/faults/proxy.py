"""A TCP proxy in a thread that forwards to a real server, or fails the way networks fail:
refusing connections, answering HTTP 503, or accepting and never answering."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

PASS, REFUSE, STALL, HTTP_503 = "pass", "refuse", "stall", "http_503"

_SLOW_DOWN = (
    b"HTTP/1.1 503 Slow Down\r\n"
    b"Content-Type: application/xml\r\n"
    b"Content-Length: %d\r\n"
    b"Connection: close\r\n\r\n%s"
)
_SLOW_DOWN_BODY = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message></Error>"
)


class FaultProxy:
    """Listens on a loopback port; `mode` decides what happens to each new connection.

    Changing the mode closes every open connection, so a client's kept-alive connection
    meets the new mode too. In REFUSE mode nothing listens: connecting is refused.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.mode = PASS
        self.connections = 0
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        self._listener: socket.socket | None = None
        self._stopped = threading.Event()
        probe = socket.create_server(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self._listen()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def set_mode(self, mode: str) -> None:
        with self._lock:
            self.mode = mode
            sockets, self._open = self._open, []
        for sock in sockets:
            _close(sock)
        if mode == REFUSE:
            self._unlisten()
        elif self._listener is None:
            self._listen()

    def close(self) -> None:
        self._stopped.set()
        self.set_mode(REFUSE)

    def _listen(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _unlisten(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            _close(listener)

    def _accept(self, listener: socket.socket) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                return  # the listener was closed
            with self._lock:
                self.connections += 1
                mode = self.mode
                self._open.append(client)
            if mode == PASS:
                self._forward(client)
            elif mode == HTTP_503:
                threading.Thread(target=self._answer_503, args=(client,), daemon=True).start()
            # STALL: keep the connection open and read nothing, answer nothing.

    def _forward(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            _close(client)
            return
        upstream.settimeout(None)
        with self._lock:
            self._open.append(upstream)
        for source, sink in ((client, upstream), (upstream, client)):
            threading.Thread(target=_pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _answer_503(client: socket.socket) -> None:
        with contextlib.suppress(OSError):
            client.settimeout(5)
            _read_request(client)
            client.sendall(_SLOW_DOWN % (len(_SLOW_DOWN_BODY), _SLOW_DOWN_BODY))
        _close(client)


def _read_request(client: socket.socket) -> None:
    """Read one request's head and body (by Content-Length)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = client.recv(65536)
        if not chunk:
            return
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    if b"100-continue" in head.lower():
        client.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
    while len(body) < length:
        chunk = client.recv(65536)
        if not chunk:
            return
        body += chunk


def _pump(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while chunk := source.recv(65536):
            sink.sendall(chunk)
    _close(source)
    _close(sink)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


@contextlib.contextmanager
def fault_proxy(target_url: str) -> Iterator[FaultProxy]:
    """A FaultProxy in front of `target_url` (http://host:port), closed at the end."""
    host, _, port = target_url.removeprefix("http://").rstrip("/").partition(":")
    proxy = FaultProxy(host, int(port))
    try:
        yield proxy
    finally:
        proxy.close()
