"""torrentino's domain: tickets, their state machine, storage and audit log.

Nothing in this package knows about HTTP or Chalice; `app.py` maps it onto routes.
"""

# The one place torrentino's version is written: pyproject.toml reads it from here, the
# OpenAPI document, GET /api/v1/version, start-up and every backup's manifest show it, and
# CHANGELOG.md's newest release must name it (tests/unit/test_version.py).
__version__ = "0.2.0"
