"""The endpoint's HTTP server: waitress, with the limits a shared endpoint needs.

Why waitress (docs/server.md has more): it is pure Python and well kept; its channel
loop reads every connection without a thread, so an idle or half-sent request costs no
worker thread (werkzeug's development server gave each connection a thread and never
timed one out); and it serves a socket bound by someone else, which lets several
worker processes (workers.py) share one listening socket.

What this module adds to it, each for a reason:

- a request must arrive whole within the idle timeout from its first byte (waitress
  only times out connections that are silent, so a client sending a byte now and then
  would keep one forever);
- the body limits of limits.py, applied once the headers are in, before any body byte
  is read (waitress reads a whole body before the application sees the request); after
  such a refusal the connection is closed gently (the unread body is drained for a
  moment) so the client reads the error rather than a reset;
- what moto's own request handler (werkzeug) gave the app: RAW_URI (the undecoded path,
  which S3 keys with an encoded '/' or a literal '%' need), the S3 metadata headers whose
  names hold '_' (both servers drop other such headers, so that X_Foo cannot pose as
  X-Foo), and response header names as the app spells them;
- a graceful stop: stop accepting, let the requests in progress finish and their
  answers go out, then close.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from waitress import wasyncore
from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser, get_header_lines
from waitress.rfc7230 import HEADER_FIELD_RE
from waitress.server import TcpWSGIServer
from waitress.task import ThreadedTaskDispatcher, WSGITask

from . import limits

DEFAULT_IDLE_TIMEOUT = 60  # seconds
DEFAULT_CONNECTION_LIMIT = 500  # per worker process; a class of 60 with 3 clients each holds ~180
DEFAULT_THREADS = 8  # per worker process: moto holds the GIL, more threads only queue there
STOP_GRACE = 30.0  # seconds the requests in progress get to finish at a stop
LINGER = 2.0  # seconds a refused request's unread body is drained before the close
_LOOP_TIMEOUT = 1.0


@dataclass(frozen=True)
class ServerOptions:
    idle_timeout: int = DEFAULT_IDLE_TIMEOUT
    connection_limit: int = DEFAULT_CONNECTION_LIMIT
    threads: int = DEFAULT_THREADS


class _Request(HTTPRequestParser):
    """One request as it arrives: when it started, its preserved headers, its limit."""

    refused: tuple[int, bool] | None = None  # (size, complete) when the body limit refused it

    def __init__(self, adj):
        super().__init__(adj)
        self.started = time.time()
        self.preserved_names: dict[str, str] = {}
        self.limit: limits.BodyLimit | None = None

    def parse_header(self, header_plus):
        super().parse_header(header_plus)
        self._keep_underscored_metadata(header_plus)

    def _keep_underscored_metadata(self, header_plus: bytes) -> None:
        # deferred: moto (~0.3 s) loads when the endpoint's app is built, not with the server
        from moto.core.request import environ_key_for_header, should_preserve_original_header_name

        dashed = set(self.headers)
        values: dict[str, list[str]] = {}
        for line in get_header_lines(header_plus[header_plus.find(b"\r\n") + 2 :]):
            match = HEADER_FIELD_RE.match(line)
            name = match.group("name").decode("latin-1") if match else ""
            if "_" not in name or not should_preserve_original_header_name(name):
                continue
            key = name.upper().replace("-", "_")
            if key in dashed:  # never let an underscored header stand in for a dashed one
                continue
            self.preserved_names.setdefault(environ_key_for_header(name), name)
            values.setdefault(key, []).append(match.group("value").strip(b" \t").decode("latin-1"))
        for key, found in values.items():
            self.headers[key] = ",".join(found)

    def received(self, data):
        if self.completed:
            return 0
        had_headers = self.headers_finished
        consumed = super().received(data)
        if self.error is not None or self.empty or self.body_rcv is None or not self.headers_finished:
            return consumed
        if not had_headers:
            self.limit = limits.limit_for(lambda name: self.headers.get(name.upper().replace("-", "_"), ""), self.query)
            if not self.chunked and self.content_length > self.limit.max_bytes:
                self._refuse(self.content_length, complete=True)
                return len(data)
        elif self.chunked and self.limit is not None and len(self.body_rcv) > self.limit.max_bytes:
            self._refuse(len(self.body_rcv), complete=False)
            return len(data)
        return consumed

    def _refuse(self, size: int, *, complete: bool) -> None:
        """Stop reading: the request is answered (limits.py) and its connection closed."""
        self.refused = (size, complete)
        self.completed = True
        self.expect_continue = False  # the body is not wanted
        self.headers["CONNECTION"] = "close"  # its unread rest must not be read as a request
        self.body_rcv.getbuf().close()
        self.body_rcv = None


class _Task(WSGITask):
    def build_response_header(self):
        """Waitress capitalises header names (x-amz-meta-my_key -> X-Amz-Meta-My_key); the
        SDKs read S3 metadata names from them, and S3 sends them as stored (lower case):
        the names go out as the app spelled them."""
        spelled = {"-".join(part.capitalize() for part in name.split("-")): name for name, _ in self.response_headers}
        head = super().build_response_header()
        lines = head.split(b"\r\n")
        for i, line in enumerate(lines[1:], start=1):
            name, colon, value = line.partition(b": ")
            original = spelled.get(name.decode("latin-1"))
            if colon and original is not None:
                lines[i] = original.encode("latin-1") + colon + value
        return b"\r\n".join(lines)

    def get_environment(self):
        environ = super().get_environment()
        request = self.request
        environ.setdefault("RAW_URI", request.request_uri)
        environ.setdefault("moto.preserved_header_names", getattr(request, "preserved_names", {}))
        if getattr(request, "refused", None) is not None:
            environ[limits.REFUSED_KEY] = request.refused
        return environ


class _Channel(HTTPChannel):
    parser_class = _Request
    task_class = _Task
    linger_until: float | None = None
    _wants_linger = False

    def service(self):
        if self.requests and getattr(self.requests[0], "refused", None) is not None:
            self._wants_linger = True
        super().service()

    # a refused body may still be on its way: drain it for a moment, then close
    def handle_close(self):
        if self._wants_linger and self.linger_until is None and self.connected:
            try:
                self.socket.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            else:
                self.linger_until = time.time() + LINGER
                self.will_close = self.close_when_flushed = False
                return
        super().handle_close()

    def readable(self):
        return True if self.linger_until is not None else super().readable()

    def writable(self):
        return False if self.linger_until is not None else super().writable()

    def handle_read(self):
        if self.linger_until is None:
            return super().handle_read()
        try:
            data = self.socket.recv(65536)
        except OSError:
            data = b""
        if not data or time.time() > self.linger_until:
            self.close_now()

    def close_now(self) -> None:
        """Close at once, lingering or not (from the loop's thread)."""
        self.linger_until = None
        self._wants_linger = False
        super().handle_close()


class _Server(TcpWSGIServer):
    channel_class = _Channel

    def maintenance(self, now):
        super().maintenance(now)  # connections silent for channel_timeout
        cutoff = now - self.adj.channel_timeout
        for channel in list(self.active_channels.values()):
            if channel.linger_until is not None:
                if now > channel.linger_until:
                    channel.close_now()
            elif not channel.requests and channel.request is not None and channel.request.started < cutoff:
                channel.will_close = True  # a request still arriving after the whole timeout


class HttpServer:
    """`app` served on `sock` (bound and listening) until `stop()`.

    `run()` blocks (call it in the thread that should serve); `stop()` may come from any
    thread: no new connections are accepted, requests in progress finish (up to
    STOP_GRACE seconds) and their answers are sent, then every connection is closed."""

    def __init__(self, app: Callable, sock: socket.socket, options: ServerOptions = ServerOptions()):
        sock.setblocking(False)
        self._map: dict = {}
        adj = Adjustments(
            threads=options.threads,
            channel_timeout=options.idle_timeout,
            cleanup_interval=1,  # so a timeout is applied within a second of its end
            # the map also holds the listening socket and the loop's wake-up pipe
            connection_limit=options.connection_limit + 2,
            max_request_body_size=2
            * limits.S3_BODY_LIMIT,  # a backstop (counts chunk framing too): the limits are in _Request
            asyncore_use_poll=True,  # select() cannot watch descriptors past 1024
            log_socket_errors=False,
        )
        self._dispatcher = ThreadedTaskDispatcher()
        self._dispatcher.set_thread_count(adj.threads)
        self._server = _Server(
            app,
            map=self._map,
            _sock=sock,
            dispatcher=self._dispatcher,
            adj=adj,
            bind_socket=False,
            sockinfo=(sock.family, sock.type, sock.proto, sock.getsockname()),
        )
        self.address = sock.getsockname()[:2]
        self._stopping = threading.Event()
        self._stopped = threading.Event()

    def run(self) -> None:
        deadline = None
        try:
            while True:
                wasyncore.loop(timeout=_LOOP_TIMEOUT, map=self._map, use_poll=True, count=1)
                if not self._stopping.is_set():
                    continue
                if deadline is None:
                    deadline = time.monotonic() + STOP_GRACE
                    self._server.accepting = False
                    self._server.del_channel()
                    self._server.socket.close()
                if self._close_idle() or time.monotonic() > deadline:
                    break
        finally:
            wasyncore.close_all(self._map)
            self._dispatcher.shutdown(timeout=5)
            self._stopped.set()

    def _close_idle(self) -> bool:
        """Close every connection with no request in progress and nothing left to send;
        True when none is left."""
        busy = False
        for channel in list(self._server.active_channels.values()):
            if channel.requests or channel.total_outbufs_len:
                busy = True
            else:  # idle, half-sent, or lingering after its answer: nothing more for it
                channel.close_now()
        return not busy and not self._server.active_channels

    def stop(self) -> None:
        self._stopping.set()
        try:
            self._server.pull_trigger()
        except OSError:
            pass
        self._stopped.wait()


def listening_socket(host: str, port: int, backlog: int = 1024) -> socket.socket:
    """A socket bound to host:port and listening (port 0: a free one); OSError if not."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a restart need not wait for TIME_WAIT
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((host, port))
        sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    return sock


def quiet_waitress(verbose: bool) -> None:
    """Waitress warns at every queued task; on a busy class that is noise, not news."""
    logging.getLogger("waitress.queue").setLevel(logging.INFO if verbose else logging.ERROR)
