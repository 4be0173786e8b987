"""Tickets: their states and state machine, the model, listing, and their SQLite store."""
