"""The HTTP layer: route plumbing (a Chalice Blueprint), the wire shape of errors and their
statuses, turning raw request input into models, links, the OpenAPI document and the web
page's files. The only part of chalicelib that imports Chalice; `app.py` uses it."""
