"""torrentino's domain: tickets, their state machine, storage and audit log.

Nothing in this package knows about HTTP or Chalice; `app.py` maps it onto routes.
"""

__version__ = "0.1.0"
