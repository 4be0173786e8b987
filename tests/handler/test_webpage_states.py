"""What the page knows about tickets and events, and where: the state machine from the
server (`GET /api/v1/states`, built from the declarations in `chalicelib/tickets/states.py`),
so that no script keeps a copy of it or names a state; everything else derived too (labels
from names, a state's fields as they come, the event types from the OpenAPI document).

Until issue 18 these tests held core.js's `TRANSITIONS` table equal to the server's: the
page kept a copy. The issue reversed that rule, and these tests hold the new one."""

from __future__ import annotations

import json
import re
from pathlib import Path

import app  # noqa: F401  (importing it registers the routes)
from chalicelib.api import webpage
from chalicelib.api.routing import openapi_json
from chalicelib.audit.events import AuditEventType
from chalicelib.keys.identity import Role
from chalicelib.keys.store import create_key
from chalicelib.tickets.states import ALLOWED_TRANSITIONS, MOVES, STATE_CLASSES, STATE_NAMES
from tests.handler.conftest import Api


def script(name: str) -> str:
    return (webpage.UI_DIR / name).read_text(encoding="utf-8")


def test_no_script_keeps_a_copy_of_the_state_machine() -> None:
    """A state added on the server needs no edit of any script."""
    for name in webpage.SCRIPTS:
        source = script(name)
        for state in STATE_NAMES:
            assert f"'{state}'" not in source, (name, state)
            assert f"{state}:" not in source, (name, state)
        assert "TRANSITIONS" not in source, name
    # Nor the moves' routes or their words.
    for move in MOVES.values():
        for text in (move.route, f"/{move.verb}'", move.button):
            assert all(text not in script(name) for name in webpage.SCRIPTS), text


def test_the_page_reads_the_machine_from_the_server() -> None:
    assert re.search(r"api\(`\$\{API\}states`\)", script("core.js"))
    uses = [name for name in webpage.SCRIPTS if "machine." in script(name)]
    assert {"queue.js", "ticket.js", "live.js"} <= set(uses)


def test_the_server_describes_the_machine_it_declares(api: Api, handler_db: Path) -> None:
    create_key(handler_db, "alice", Role.ADMIN)  # keys in use: the route needs none
    status, machine, _ = api.call("GET", "/api/v1/states")
    assert status == 200
    assert machine["initial"] == "pending"
    assert [state["name"] for state in machine["states"]] == list(STATE_NAMES)
    for state in machine["states"]:
        assert set(state["next"]) == ALLOWED_TRANSITIONS[state["name"]]
        assert state["description"] == STATE_CLASSES[state["name"]].__doc__
        move = MOVES.get(state["name"])
        if move is None:
            assert state["move"] is None
            continue
        described = state["move"]
        assert (described["method"], described["path"], described["who"]) == (
            move.method,
            move.route,
            move.who,
        )
        assert described["button"] == move.button
        assert [field["name"] for field in described["inputs"]] == [i.name for i in move.inputs]


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
