"""What the page knows about tickets and events, and where: the states in one table in
core.js (the server's state machine, which the API does not publish), everything else
derived (labels from names, a state's fields as they come, the event types from the
OpenAPI document)."""

from __future__ import annotations

import json
import re

import app  # noqa: F401  (importing it registers the routes)
from chalicelib.api import webpage
from chalicelib.api.routing import openapi_json
from chalicelib.audit.events import AuditEventType
from chalicelib.tickets.states import ALLOWED_TRANSITIONS, STATE_NAMES


def script(name: str) -> str:
    return (webpage.UI_DIR / name).read_text(encoding="utf-8")


def page_transitions() -> dict[str, set[str]]:
    """core.js's `TRANSITIONS` table, read from its source."""
    found = re.search(r"^const TRANSITIONS = \{(.*?)\};$", script("core.js"), re.M | re.S)
    assert found, "core.js has no TRANSITIONS table"
    rows = re.findall(r"(\w+): \[([^\]]*)\]", found.group(1))
    return {state: set(re.findall(r"'(\w+)'", targets)) for state, targets in rows}


def test_the_page_knows_the_servers_state_machine() -> None:
    """A state added on the server fails this test until core.js's table has it."""
    assert page_transitions() == {state: set(ALLOWED_TRANSITIONS[state]) for state in STATE_NAMES}


def test_no_script_but_core_names_a_state() -> None:
    for name in webpage.SCRIPTS:
        if name == "core.js":
            continue
        for state in STATE_NAMES:
            assert f"'{state}'" not in script(name), (name, state)
    # In core.js: the table, the queue's own state, and what the two actions lead to.
    lines = [
        line
        for line in script("core.js").splitlines()
        if re.search(r"'(pending|cancelled|completed|failed)'", line)
    ]
    assert len(lines) == 4, lines


def test_the_event_types_come_from_the_openapi_document() -> None:
    document = json.loads(openapi_json())
    listed = document["components"]["schemas"]["AuditEventType"]["enum"]
    assert listed == [event_type.value for event_type in AuditEventType]
    assert ".data.components.schemas.AuditEventType.enum" in script("audit.js")
    for name in webpage.SCRIPTS:  # and no script lists them all
        named = [t.value for t in AuditEventType if f"{t.value}:" in script(name)]
        assert len(named) < len(AuditEventType), (name, named)


def derived_label(name: str) -> str:
    """core.js's `label()` for a name it has no label for."""
    return name[:1].upper() + name[1:].replace("_", " ")


def test_labels_are_given_only_where_the_name_does_not_give_them() -> None:
    found = re.search(r"^const LABELS = \{(.*?)\};$", script("core.js"), re.M)
    assert found, "core.js has no LABELS"
    given = dict(re.findall(r"(\w+): '([^']*)'", found.group(1)))
    assert given  # e.g. "Ticket filed", where the name says ticket_created
    for name, text in given.items():
        assert text != derived_label(name), name
    assert derived_label("ticket_state_changed") == "Ticket state changed"
