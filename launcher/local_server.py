"""Serve torrentino with `chalice local`, tuned for a long-running home service.

This is Chalice's own command-line `chalice local` (same config, stages and
gateway), with a request handler that:

* answers an unknown route with the API's JSON 404 instead of API Gateway's
  403 "Missing Authentication Token";
* refuses a body over 1 MiB from its Content-Length, before reading it, and a
  chunked body it could not read, instead of buffering whatever arrives;
* answers what `http.server` refuses by itself (a malformed request line, an
  overlong or too many headers) in the API's JSON error shape, not HTML;
* sets TCP_NODELAY, so a keep-alive client is not held up ~40 ms per request by
  Nagle's algorithm waiting on the client's delayed ACK;
* gives the app each header sent on several lines as all of them, joined with commas
  (Chalice's handler passes the first line alone, the one a client behind a proxy that
  adds its own `X-Forwarded-For` line wrote), and refuses a second `Host`;
* answers a client's `Connection: close` with `Connection: close`;
* listens with a backlog of 128 instead of 5, so a burst of new connections is
  not answered with dropped SYNs and one-second retries;
* records `service_started` (and migrates the database) when the server starts,
  not on the first request;
* bounds every connection (launcher/connection_limits.py, launcher/connection_slots.py):
  the time its client may take for a request's head and body, for the next request
  on a kept-alive connection and for taking an answer, how many connections it
  serves at once and how many of them one client address may hold; and takes a
  connection only once its first bytes have arrived;
* tells the app the client's real address (`context['identity']['sourceIp']`),
  where Chalice's local gateway says 127.0.0.1 for every caller; behind a trusted
  reverse proxy (`TORRENTINO_TRUSTED_PROXIES`) it counts each request's place for, and
  logs, the client the proxy forwards (`chalicelib/api/forwarding.py`);
* takes scheduled backups in a daemon thread (`chalicelib.backups.schedule`), and delivers
  notifications in another (`chalicelib.notifications.schedule`);
* stops cleanly on SIGINT and SIGTERM (launcher/clean_stop.py): the requests in flight
  finish, both threads are stopped, exit status 0; and refuses to start, with exit status
  3, on a database whose upgrade failed.
* costs less per request than Chalice's own (docs/benchmarks.md, "A leaner request
  path"): one gateway per server (a copy per thread) rather than one per connection,
  each path matched once, an answer's head and body in one write, non-blocking sockets
  read and written at once (waited on only when empty or full), the Date header and the
  log's time formatted once a second, Chalice's media-type checks' answers kept
  (launcher/content_types.py).

Usage: python launcher/local_server.py [--host H] [--port P] [--stage S]
"""

from __future__ import annotations

import contextlib
import copy
import email.utils
import functools
import io
import socket
import sys
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import parse_qs, urlparse

import chalice.local
from chalice.app import Chalice
from chalice.cli import main as chalice_main
from chalice.config import Config
from chalice.local import (
    ChaliceRequestHandler,
    LambdaContext,
    LambdaEventConverter,
    LocalDevServer,
    LocalGateway,
    MatchResult,
    RouteMatcher,
    ThreadedHTTPServer,
)

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

from chalicelib import __version__, settings  # noqa: E402
from chalicelib.api.errors import BodyTooLarge, RouteNotFound  # noqa: E402
from chalicelib.api.forwarding import client_address, is_trusted  # noqa: E402
from chalicelib.api.parsing import MAX_BODY_BYTES  # noqa: E402
from chalicelib.api.routing import error_response  # noqa: E402
from chalicelib.backups.schedule import ScheduledBackups, start_scheduled_backups  # noqa: E402
from chalicelib.errors import InvalidInput, TorrentinoError, UpgradeFailed  # noqa: E402
from chalicelib.keys.identity import without_keys  # noqa: E402
from chalicelib.notifications.schedule import start_delivery  # noqa: E402
from chalicelib.service.startup import ensure_started  # noqa: E402
from chalicelib.storage import migrations  # noqa: E402
from launcher import content_types, heads  # noqa: E402
from launcher.clean_stop import (  # noqa: E402
    ACCEPT_LOOP_TURN_SECONDS,
    UPGRADE_FAILED_EXIT_STATUS,
    StopServing,
    StopSignals,
    stop_serving,
)
from launcher.connection_limits import (  # noqa: E402
    MAX_HEAD_BYTES,
    RETRY_AFTER_SECONDS,
    ClientTooSlow,
    ConnectionEvicted,
    ConnectionLimits,
    HeadTooLarge,
)
from launcher.connection_slots import ConnectionSlots, DeadlineReader, DeadlineWriter  # noqa: E402
from launcher.errors import ClientBusy, HeadersTooLarge, ServerBusy, ServerStopping  # noqa: E402
from launcher.read_turns import ReadTurns  # noqa: E402
from launcher.worker_threads import WorkerThreads  # noqa: E402


def _error(error: TorrentinoError) -> dict[str, Any]:
    response: dict[str, Any] = error_response(error).to_dict()
    return response


class RouteTable(RouteMatcher):
    """Chalice's route matcher, each route split once rather than on every request, and
    only the routes with as many segments as the path tried: the same route for every path
    (the first in Chalice's order), with only that route's parameters captured."""

    def __init__(self, route_urls: list[str]) -> None:
        super().__init__(route_urls)
        self._by_length: dict[int, list[tuple[str, list[str]]]] = {}
        for route_url in self.route_urls:  # sorted: a concrete segment before a {capture}
            parts = route_url.split("/")
            self._by_length.setdefault(len(parts), []).append((route_url, parts))

    def match_route(self, url: str) -> MatchResult:
        parsed = urlparse(url)  # as Chalice's: its path, without `;params` or `#fragment`
        path, query = parsed.path, parsed.query
        if path != "/" and path.endswith("/"):  # as API Gateway, and Chalice's matcher
            path = path[:-1]
        parts = path.split("/")
        for route_url, route_parts in self._by_length.get(len(parts), ()):
            captured = {}
            for given, expected in zip(parts, route_parts, strict=True):
                if expected.startswith("{") and expected.endswith("}"):
                    captured[expected[1:-1]] = given
                elif given != expected:
                    break
            else:
                return MatchResult(route_url, captured, parse_qs(query, keep_blank_values=True))
        raise ValueError(f"No matching route found for: {url}")


class _MatchedRoute(RouteMatcher):
    """The event converter's route matcher: the match the gateway made for the request."""

    def __init__(self) -> None:
        super().__init__([])
        self.match: MatchResult | None = None

    def match_route(self, url: str) -> MatchResult:
        assert self.match is not None, url  # set by TorrentinoGateway.handle_request
        return self.match


class TorrentinoGateway(LocalGateway):
    """Chalice's local API Gateway, with a JSON 404 for paths no route matches, the
    client's own address as the event's `sourceIp`, as API Gateway gives it, and reads
    taking turns (`read_turns`).

    Made once per server; each connection's thread gets its own copy (`for_client`), kept
    for the thread's next connection, so what Chalice builds per gateway (the route
    table, sorted) is not built per connection, and a path is matched once per request,
    not once more to make the event.
    """

    def __init__(self, app_object: Chalice, config: Config) -> None:
        super().__init__(app_object, config)
        self._routes = RouteTable(list(app_object.routes))
        self._client_ip = LambdaEventConverter.LOCAL_SOURCE_IP
        self._matched = _MatchedRoute()
        self._function_name: str = config.function_name
        self._memory_size: int = config.lambda_memory_size
        self._runtime_ms = (config.lambda_timeout or self.MAX_LAMBDA_EXECUTION_TIME) * 1000
        self._reads = ReadTurns()  # shared by every copy
        self._threads = threading.local()  # each thread's copy

    def for_client(self, client_ip: str) -> TorrentinoGateway:
        """This gateway for a connection on this thread, whose client is at `client_ip`.

        A thread serves one connection at a time, so its copy is made once and given to
        each of its connections (a copy costs about 5 us, a whole fresh GET 900)."""
        gateway: TorrentinoGateway | None = getattr(self._threads, "gateway", None)
        if gateway is None:
            gateway = copy.copy(self)
            gateway._matched = _MatchedRoute()
            gateway.event_converter = LambdaEventConverter(
                gateway._matched, self._app_object.api.binary_types
            )
            self._threads.gateway = gateway
        gateway._client_ip = client_ip
        return gateway

    def _generate_lambda_context(self) -> LambdaContext:
        # Chalice's, with the stage's settings read once rather than on every request.
        return LambdaContext(self._function_name, self._memory_size, self._runtime_ms)

    def _generate_lambda_event(
        self, method: str, path: str, headers: dict[str, Any], body: bytes | None
    ) -> dict[str, Any]:
        event: dict[str, Any] = super()._generate_lambda_event(method, path, headers, body)
        event["requestContext"]["identity"]["sourceIp"] = self._client_ip
        return event

    def handle_request(
        self, method: str, path: str, headers: dict[str, Any], body: bytes | None
    ) -> dict[str, Any]:
        try:
            self._matched.match = self._routes.match_route(path)
        except ValueError:
            return _error(RouteNotFound(path.split("?", 1)[0]))
        work = functools.partial(super().handle_request, method, path, headers, body)
        response: dict[str, Any] = work() if method != "GET" else self._reads.run(work)
        return response


class TorrentinoRequestHandler(ChaliceRequestHandler):
    """Chalice's request handler with TCP_NODELAY, a body limit, the connection's
    deadlines and our gateway."""

    rfile: BinaryIO  # the request stream; swapped for the body while Chalice reads it

    def __init__(
        self, request: Any, client_address: Any, server: Any, app_object: Chalice, config: Config
    ) -> None:
        # Not ChaliceRequestHandler's own, which makes a gateway (and sorts the routes) for
        # every connection: `setup` takes the server's.
        del app_object, config
        BaseHTTPRequestHandler.__init__(self, request, client_address, server)

    def setup(self) -> None:
        # StreamRequestHandler.setup, with reads and writes bounded by the connection's
        # deadlines (launcher/connection_slots.py) instead of waiting as long as the client likes.
        self.connection = self.request
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.client = self._slots.connection(self.request)
        self._stream = io.BufferedReader(DeadlineReader(self.client))
        self.rfile = self._stream
        self.wfile = DeadlineWriter(self.client)
        gateway: TorrentinoGateway = self.server.gateway
        self.local_gateway = gateway.for_client(str(self.client_address[0]))
        self._forwarded_for: str | None = None  # the client a trusted proxy forwards

    def address_string(self) -> str:
        """The client's address, for the log: behind a trusted proxy, the client it forwards."""
        return self._forwarded_for or str(self.client_address[0])

    def _count_for_client(self) -> bool:
        """Behind a trusted proxy, count this request's place for the client it forwards
        (the proxy's own address if it names none); False, answered 503, when that
        client holds its share of the places already."""
        peer, trusted = str(self.client_address[0]), self.server.trusted_proxies
        if not is_trusted(peer, trusted):
            return True
        self._forwarded_for = client_address(peer, self._header_fields(), trusted)
        if self._slots.attribute(self.client, self._forwarded_for or peer):
            return True
        self.client.over_share = True
        self._refuse_busy()
        return False

    def date_time_string(self, timestamp: float | None = None) -> str:
        # The Date header, formatted once a second rather than for every response.
        if timestamp is not None:
            return _http_date(timestamp)
        return _http_date(int(time.time()))

    def log_date_time_string(self) -> str:
        # The access log's time, formatted once a second too.
        return _log_date(int(time.time()))

    def _header_fields(self) -> dict[str, str]:
        """Each header by its name in lower case, its lines joined with commas in the order
        sent (RFC 9110 5.3): a proxy may add its own `X-Forwarded-For` or `Forwarded` line
        after its client's, and neither line alone is the header. (Chalice's handler
        takes the first line of each, which the client chose.)"""
        if self._fields_of is not self.headers:  # once per request (a new head is a new object)
            fields: dict[str, list[str]] = {}
            for name, value in self.headers.items():
                fields.setdefault(name.lower(), []).append(value.strip())
            self._fields = {name: ", ".join(values) for name, values in fields.items()}
            self._fields_of = self.headers
        return self._fields

    def _parse_payload(self) -> tuple[dict[str, Any], bytes | None]:
        # What Chalice's gateway builds the event from: every header line, not the first.
        _, body = super()._parse_payload()
        return self._header_fields(), body

    def end_headers(self) -> None:
        # A client that asked to close (or spoke HTTP/1.0) is told so in the response
        # (RFC 9112 9.6), so it does not try to reuse a socket that is about to close.
        announced = any(
            line.lower().startswith(b"connection:") for line in getattr(self, "_headers_buffer", [])
        )
        if self.server.stopping:  # the server stops once the requests in flight are answered
            self.close_connection = True
        if self.close_connection and not announced:
            self.send_header("Connection", "close")
        super().end_headers()

    _pending_body = b""  # the body that leaves with the head (`flush_headers`)
    _fields_of: object = None  # the head `_fields` was made from
    _fields: dict[str, str]
    _headers_buffer: list[bytes]

    def _send_http_response_with_body(
        self, code: int, headers: dict[str, Any], body: str | bytes
    ) -> None:
        # Chalice's, but the head and the body leave in one write: one system call and,
        # with TCP_NODELAY, one packet, where two writes cost a packet and a wake-up each.
        if not isinstance(body, bytes):
            body = body.encode("utf-8")
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Type", headers.pop("Content-Type", "application/json"))
        self._pending_body = body
        self._send_headers(headers)  # ends with end_headers, which flushes head and body
        if self._pending_body:  # an HTTP/0.9-style answer has no head to flush: the body alone
            self.flush_headers()

    def flush_headers(self) -> None:
        body, self._pending_body = self._pending_body, b""
        head = getattr(self, "_headers_buffer", [])
        self._headers_buffer = []
        if head or body:
            self.wfile.write(b"".join([*head, body]))

    def _refuse(self, error: TorrentinoError, status: int | None = None) -> None:
        response = _error(error)
        self.close_connection = True
        headers = dict(response["headers"])
        headers["Connection"] = "close"
        self._send_http_response(status or response["statusCode"], headers, response["body"])

    @property
    def _slots(self) -> ConnectionSlots:
        slots: ConnectionSlots = self.server.slots
        return slots

    def _refuse_busy(self) -> None:
        limits = self._slots.limits
        if self.server.stopping:
            self._refuse(ServerStopping(retry_after=RETRY_AFTER_SECONDS))
        elif self.client.over_share:
            self._refuse(ClientBusy(limits.max_per_client, retry_after=RETRY_AFTER_SECONDS))
        else:
            self._refuse(ServerBusy(limits.max_connections, retry_after=RETRY_AFTER_SECONDS))

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """`http.server`'s own refusals (bad request line, headers), in the API's JSON shape."""
        del explain
        reason = message or self.responses.get(code, ("bad request",))[0]
        # Not what follows the reason: "Bad request syntax ('<the raw request line>')".
        self.log_error("code %d, message %s", code, reason.partition(" (")[0])
        # A request line that did not parse leaves http.server's HTTP/0.9 default, which
        # answers with the body alone: answer with a status line and headers instead, and
        # a version this server does not speak (HTTP/2 and up) as the bad request it is.
        self.request_version = self.protocol_version
        status = HTTPStatus.BAD_REQUEST if code == HTTPStatus.HTTP_VERSION_NOT_SUPPORTED else code
        self._refuse(InvalidInput(f"malformed HTTP request: {reason}"), status=status)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """The access log's line for an answer: the request line without its query string
        (which may carry a key: `?apikey=`), or `-` for one that did not parse."""
        line = "-"
        if self.command:
            path, query, _ = self.path.partition("?")
            shown = f"{path}?(query not logged)" if query else path
            line = f"{self.command} {shown} {self.request_version}"
        self.log_message('"%s" %s %s', line, int(code) if isinstance(code, int) else code, size)

    def log_message(self, format: str, *args: Any) -> None:
        """Every line the server logs, with the secret of anything shaped like a key left out."""
        super().log_message("%s", without_keys(format % args))

    def _unreadable_head(self) -> InvalidInput | None:
        """Why the launcher cannot act on this request's head safely, if it cannot."""
        if len(self.headers.get_all("host", [])) > 1:  # RFC 9112 3.2: which would it be?
            return InvalidInput("more than one Host header", field="Host")
        if "chunked" in self._header_fields().get("transfer-encoding", "").lower():
            return InvalidInput(
                "chunked request bodies are not supported; send Content-Length",
                field="Transfer-Encoding",
            )
        length = self.headers.get("content-length", "0")
        if not (length.isascii() and length.isdigit()):  # "²".isdigit() is true
            return InvalidInput(f"invalid Content-Length {length!r}", field="Content-Length")
        return None

    def _generic_handle(self) -> None:
        unreadable = self._unreadable_head()
        if unreadable is not None:
            self._refuse(unreadable)
            return
        length = self.headers.get("content-length", "0")
        if int(length) > MAX_BODY_BYTES:
            self._refuse(BodyTooLarge(MAX_BODY_BYTES))
            return
        connection_stream = self.rfile
        self.client.await_body()
        body = connection_stream.read(int(length))
        if len(body) != int(length):  # the client went away mid-body: do not act on a part
            self._refuse(
                InvalidInput(
                    f"request body ended after {len(body)} of {length} bytes", field="body"
                )
            )
            return
        if self.client.turned_away:
            self._refuse_busy()
            return
        if not self._count_for_client():
            return
        if not self.client.begin_work():
            raise ConnectionEvicted
        self.rfile = io.BytesIO(body)  # where Chalice reads the body from
        try:
            super()._generic_handle()
        finally:
            self.rfile = connection_stream

    def handle_one_request(self) -> None:
        """One request, within the connection's deadlines (`ClientConnection`)."""
        self.client.await_request()
        self._forwarded_for = None
        # What a refusal before the request line is parsed answers with (http.server sets
        # these for each request it parses; they would otherwise be the last request's).
        self.requestline, self.request_version, self.command = "", "HTTP/1.1", ""
        try:
            # A kept-alive connection waits for its next request's first byte (perhaps
            # already read with the last request) before the head's own time starts.
            if self.client.requests > 1 and self._stream.peek(1):
                self.client.received(0)
            super().handle_one_request()
        except ClientTooSlow:
            self.close_connection = True
            if self.client.request_started:  # a connection that never sent a byte is just closed
                self._refuse(self.client.timeout_error())
        except HeadTooLarge:
            self._refuse(HeadersTooLarge(MAX_HEAD_BYTES))
        except ConnectionEvicted:
            self.close_connection = True
            # A client that sent (part of) a request learns it was not acted on.
            if self.client.request_started or self.client.sent_before_eviction or self._pending():
                self._refuse_busy()

    def _pending(self) -> bool:
        """Whether the client's bytes wait unread (the reading side is shut: no wait)."""
        try:
            return bool(self.connection.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT))
        except OSError:
            return False

    def handle(self) -> None:
        try:
            super().handle()
        except OSError:  # reset, broken pipe, or a client that stopped reading its answer
            self.close_connection = True  # the client is gone or stuck: nothing more to do

    # Chalice binds these to its own handler function; point them at ours.
    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _generic_handle

    def __getattr__(self, name: str) -> Any:
        # http.server looks up do_<METHOD>: any other method, even TRACE or QUERY, goes to
        # the gateway too, which answers the JSON 405 rather than http.server's 501 page.
        if name.startswith("do_"):
            return self._generic_handle
        raise AttributeError(name)


@functools.lru_cache(maxsize=2)
def _http_date(second: float) -> str:
    return email.utils.formatdate(second, usegmt=True)


@functools.lru_cache(maxsize=2)
def _log_date(second: int) -> str:
    # http.server's own format for its access log.
    year, month, day, hh, mm, ss, *_ = time.localtime(second)
    month_name = BaseHTTPRequestHandler.monthname[month]
    return f"{day:02d}/{month_name:>3s}/{year:04d} {hh:02d}:{mm:02d}:{ss:02d}"


class TorrentinoHTTPServer(ThreadedHTTPServer):
    """Chalice's threaded server with a listen backlog that fits a burst of clients, and
    at most `TORRENTINO_MAX_CONNECTIONS` connections (threads) served at once.

    socketserver's default backlog is 5: when more clients connect at once (a
    browser opens six), the kernel drops the extra SYNs and the clients retry
    after a second, which shows up as one-second requests.
    """

    request_queue_size = 128

    def __init__(self, server_address: tuple[str, int], handler: Any) -> None:
        self.slots = ConnectionSlots(ConnectionLimits.from_environment())
        self.trusted_proxies = settings.trusted_proxies()  # checked by create_local_server
        self.stopping = False  # set once a stop signal has ended the accept loop
        self.gateway: TorrentinoGateway | None = None  # set by create_local_server
        # Each connection's thread, kept for the next connection when it ends.
        self.workers = WorkerThreads(self.process_request_thread)
        super().__init__(server_address, handler)

    def server_bind(self) -> None:
        # Linux hands over a connection only once its first bytes arrive (nginx's
        # `listen ... deferred`): a client that connects and says nothing waits in the
        # kernel for a few seconds, without a thread or a place, and every connection
        # accepted has its request ready to read.
        if hasattr(socket, "TCP_DEFER_ACCEPT"):  # Linux only
            self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT, 1)
        super().server_bind()

    def get_request(self) -> tuple[socket.socket, Any]:
        # socket.accept, less the enums it makes of the listening socket's family and type
        # for every connection (a sixth of what the accepting thread does for one).
        fd, address = self.socket._accept()
        return socket.socket(self.address_family, self.socket_type, 0, fd), address

    @staticmethod
    def _serving() -> bool:
        """Whether no stop signal has come (the accepting thread may keep waiting)."""
        return SIGNALS.received is None

    def service_actions(self) -> None:
        """Between two turns of the accept loop: end it once a stop signal has come."""
        SIGNALS.raise_if_received()

    def process_request(self, request: Any, client_address: Any) -> None:
        """Serve the connection on a thread of its own (a new one, or one whose connection
        has ended: `WorkerThreads`), if `ConnectionSlots` has a place.

        A trusted proxy's connection counts for nobody until it forwards a request.
        """
        peer = str(client_address[0])
        counted = None if is_trusted(peer, self.trusted_proxies) else peer
        if self.slots.admit(request, counted, self._serving) is None:  # a stop signal came
            self.shutdown_request(request)
            return
        self.workers.run(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        # socketserver's, without its `shutdown(SHUT_WR)` before the close: that is for a
        # socket whose close is put off (a `makefile` or another process still holds it).
        # Nothing else holds ours, so the close sends the FIN at once: one system call, and
        # one wait for the GIL after it, fewer for each connection.
        self.slots.release(request)
        self.close_request(request)


class TorrentinoDevServer(LocalDevServer):
    """Chalice's local server, serving until a stop signal, then stopping cleanly."""

    server: TorrentinoHTTPServer

    def __init__(
        self, app_obj: Chalice, config: Config, host: str, port: int, db_path: Path
    ) -> None:
        super().__init__(
            app_obj,
            config,
            host,
            port,
            handler_cls=TorrentinoRequestHandler,
            server_cls=TorrentinoHTTPServer,
        )
        self.db_path = db_path
        self.scheduled: ScheduledBackups | None = None
        self.delivery: threading.Event | None = None  # stops the notifications' thread

    def serve_forever(self) -> None:
        schema = len(migrations.MIGRATIONS)
        print(
            f"torrentino {__version__} (schema {schema}) serving on http://{self.host}:{self.port}"
        )
        with contextlib.suppress(StopServing):  # how a stop signal ends the loop
            self.server.serve_forever(poll_interval=ACCEPT_LOOP_TURN_SECONDS)
        self.server.workers.stop()  # the threads that wait for a connection that won't come
        if self.delivery is not None:  # between two deliveries; a delivery under way ends
            self.delivery.set()
        stop_serving(self.server, SIGNALS.received, self.scheduled, self.db_path)


SIGNALS = StopSignals()


def create_local_server(app_obj: Chalice, config: Config, host: str, port: int) -> LocalDevServer:
    """Chalice's `create_local_server`, with our handler, after starting the service.

    Exits with status 3 when the database's upgrade failed (it is left as it was)."""
    chalice.local.CustomLocalChalice.__bases__ = (chalice.local.LocalChalice, app_obj.__class__)
    app_obj.__class__ = chalice.local.CustomLocalChalice
    db_path = settings.db_path()
    try:
        settings.trusted_proxies()
    except ValueError as error:
        raise SystemExit(f"torrentino: {error}") from None
    try:
        ensure_started(db_path)
    except UpgradeFailed as error:
        print(f"torrentino: not starting: {error.message}", file=sys.stderr)
        raise SystemExit(UPGRADE_FAILED_EXIT_STATUS) from None
    except TorrentinoError as error:
        # Serve anyway: requests answer with the error until the database is fixed.
        print(f"torrentino: cannot start the database yet: {error}", file=sys.stderr)
    server = TorrentinoDevServer(app_obj, config, host, port, db_path)
    server.scheduled = start_scheduled_backups(db_path)
    server.delivery = start_delivery(db_path)
    server.server.gateway = TorrentinoGateway(app_obj, config)
    return server


def main(argv: list[str]) -> int:
    """Run `chalice local` on this project with our server factory."""
    SIGNALS.install()  # from the start: Ctrl-C during start-up stops cleanly too
    heads.install()  # every request's head read without the email package, alike
    content_types.install()  # Chalice's media-type checks, each answer kept
    chalice.local.create_local_server = create_local_server
    sys.argv = ["chalice", "--project-dir", str(PROJECT_DIR), "local", "--no-autoreload", *argv]
    return int(chalice_main() or 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
