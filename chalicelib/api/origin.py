"""Requests that a web page on another site made a browser send: refused, in open mode,
when they would change something.

A browser adds no API key by itself (there are no cookies), so such a request has the
rights of a caller without a key: in open mode, this machine's anonymous admin. A form
on any page can POST with an empty body, which needs no CORS preflight, so the media-type
check alone does not stop it. Once keys exist, another site's page has no key to send.
Browsers say where a request comes from (`Sec-Fetch-Site`, `Origin`); other clients
(curl, the *arr apps, generated clients) send neither.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from chalicelib.errors import Forbidden

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def refuse_other_sites(
    method: str,
    headers: Mapping[str, str],
    host: str | None = None,
    scheme: str | None = None,
) -> None:
    """Raise `Forbidden` for a change a browser sends on behalf of another site's page.

    `host` and `scheme` are what the client used, when a trusted proxy says so: the
    `Host` header's host and any scheme otherwise.
    """
    if method.upper() in SAFE_METHODS:
        return
    fetch_site = headers.get("sec-fetch-site", "").strip().lower()
    origin = headers.get("origin")
    host = (host if host is not None else headers.get("host", "")).strip().lower()
    if fetch_site in ("cross-site", "same-site"):
        raise Forbidden(f"a web page on another site may not change anything here ({fetch_site})")
    if origin is not None and origin.strip().lower() != "null" and host:
        parts = urlsplit(origin.strip().lower())
        if parts.netloc != host or (scheme is not None and parts.scheme != scheme):
            raise Forbidden(f"a web page from {origin!r} may not change anything on {host!r}")
    elif origin is not None:
        raise Forbidden("a web page with no origin of its own may not change anything here")
