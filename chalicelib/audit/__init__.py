"""The audit log: an append-only record of everything that happened, in the tickets' database.
Writing events, the shapes of their data, reading them back, and a ticket's history."""
