"""The HTTP side that does not need Chalice: the wire shape of errors and their statuses,
turning raw request input into models, and the OpenAPI document. `app.py` uses it."""
