"""The web page for people: its files (in `chalicelib/ui/`, so `chalice package` ships them)
and the headers they are served with.

The page is plain HTML, CSS and JavaScript modules with no build step. It talks only to
the public JSON API, by relative URLs, so it works at `/` under `make run` and under API
Gateway's stage prefix alike.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path

from chalicelib.api.errors import RouteNotFound

UI_DIR = Path(__file__).resolve().parent.parent / "ui"
PAGE = "index.html"

# Every file the page is made of, by name, with its media type: nothing else is served.
# The scripts the page loads at once (each preloaded by the HTML, so they arrive together)...
SCRIPTS = (
    "app.js",
    "core.js",
    "live.js",
    "queue.js",
    "ticket.js",
    "audit.js",
)
# ...and those loaded when first needed, not with the page, so its first load stays light:
# the form for filing, editing or filing again a ticket, which most visits never open, with
# the modules it imports (forms.js, priority.js, destinations.js), and the views few people
# open (each a dynamic `import()` in app.js).
ON_DEMAND = (
    "request.js",
    "forms.js",
    "priority.js",
    "destinations.js",
    "keys.js",
    "backups.js",
    "notifications.js",
)
JAVASCRIPT = "text/javascript; charset=utf-8"
# The page as it loads: the HTML and every file it refers to.
CONTENT_TYPES: dict[str, str] = {
    PAGE: "text/html; charset=utf-8",
    **{script: JAVASCRIPT for script in SCRIPTS},
    "app.css": "text/css; charset=utf-8",
    "icon.svg": "image/svg+xml",
}
SERVED: dict[str, str] = {**CONTENT_TYPES, **{script: JAVASCRIPT for script in ON_DEMAND}}

# Scripts, styles, images and requests from this origin only: no inline script or style,
# no plugin, no <base> rewriting, and no framing (clickjacking).
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    # Revalidate every time (a 304 when unchanged), so a new version shows at once.
    "Cache-Control": "no-cache",
}


@dataclass(frozen=True)
class PageFile:
    """One of the page's files, ready to send."""

    name: str
    body: str
    content_type: str
    etag: str


@dataclass(frozen=True)
class Served:
    """What to answer for a request for one of the page's files."""

    status: int
    headers: dict[str, str]
    body: str


@functools.cache
def page_file(name: str) -> PageFile:
    """The named file of the page, read once per process; raises `RouteNotFound`."""
    content_type = SERVED.get(name)
    if content_type is None:
        raise RouteNotFound(f"/ui/{name}")
    body = (UI_DIR / name).read_text(encoding="utf-8")
    digest = hashlib.sha256(body.encode("utf-8")).hexdigest()[:20]
    return PageFile(name=name, body=body, content_type=content_type, etag=f'"{digest}"')


def serve(name: str, if_none_match: str | None = None) -> Served:
    """The response for one of the page's files: 304 when the client's copy is current.

    Raises `RouteNotFound` for a name that is not one of the page's files.
    """
    file = page_file(name)
    headers = {**SECURITY_HEADERS, "Content-Type": file.content_type, "ETag": file.etag}
    if if_none_match is not None and file.etag in {t.strip() for t in if_none_match.split(",")}:
        return Served(status=304, headers=headers, body="")
    return Served(status=200, headers=headers, body=file.body)


def folder_redirect(client_path: object) -> str | None:
    """Where to send a browser that asked for the page without its trailing slash.

    The page's URLs are relative, so they must resolve against a folder: under API
    Gateway, `https://…/api` would load `https://…/ui/app.js`, outside the stage. The
    answer is a relative Location (`api/`), or None when the path already ends in `/`.
    `client_path` is the path as the client sent it (the request context's `path`).
    """
    if not isinstance(client_path, str) or not client_path or client_path.endswith("/"):
        return None
    return client_path.rsplit("/", 1)[-1] + "/"


def total_bytes() -> int:
    """The size of the page as it loads (on-demand scripts aside), uncompressed."""
    return sum(len(page_file(name).body.encode("utf-8")) for name in CONTENT_TYPES)
