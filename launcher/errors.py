"""The errors only the launcher answers (`make run`; on Lambda, API Gateway does this work),
in the API's one shape, with their rows in the one status table."""

from __future__ import annotations

from chalicelib.api.errors import STATUS
from chalicelib.errors import InvalidInput, TorrentinoError


class HeadersTooLarge(InvalidInput):
    """The request line and headers are larger than the server reads."""

    code = "invalid_input"

    def __init__(self, limit: int) -> None:
        super().__init__(f"the request line and headers are larger than {limit // 1024} KiB")


class RequestTimeout(TorrentinoError):
    """The request's head or body did not arrive in time."""

    code = "request_timeout"

    def __init__(self, part: str, seconds: float) -> None:
        super().__init__(
            f"the request's {part} did not arrive within {seconds:g} s; "
            "send the whole request at once"
        )


class ServerBusy(TorrentinoError):
    """The server has no place for this connection's request now."""

    code = "server_busy"

    def __init__(self, max_connections: int, *, retry_after: int) -> None:
        super().__init__(
            f"the server is serving all the {max_connections} connections it serves at once"
            f" and did not act on this request; retry in {retry_after} s"
        )
        self.retry_after = retry_after


class ClientBusy(ServerBusy):
    """This client's address holds its share of the server's places, each busy."""

    def __init__(self, max_per_client: int, *, retry_after: int) -> None:
        super().__init__(max_per_client, retry_after=retry_after)
        self.message = (
            f"this client address is using all the {max_per_client} connections one address"
            f" may hold at once; this request was not acted on; retry in {retry_after} s"
        )
        self.args = (self.message,)


class ServerStopping(ServerBusy):
    """The server is stopping: it finishes the requests it has begun and takes no more."""

    def __init__(self, *, retry_after: int) -> None:
        super().__init__(0, retry_after=retry_after)
        self.message = (
            "the server is stopping and did not act on this request; retry once it is back"
        )
        self.args = (self.message,)


STATUS.update({RequestTimeout: 408, HeadersTooLarge: 431, ServerBusy: 503})
