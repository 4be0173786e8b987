"""Model-based testing: random sequences of API calls and store transitions, checked after
every step against a plain in-memory model and against the audit log's replay."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

from chalice.test import Client
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule

from app import app
from chalicelib.audit.events import AuditEvent
from chalicelib.backups.check import check_database
from chalicelib.errors import InvalidTransition
from chalicelib.service import startup
from chalicelib.settings import DB_PATH_VARIABLE
from chalicelib.tickets.events import replay
from chalicelib.tickets.states import Completed, Failed
from chalicelib.timestamps import utc_now
from harness.server_process import PROJECT_DIR
from tests.helpers import with_storage

# Text as people type it: anything but lone surrogates; no control characters where the
# API refuses them (tags, paths).
PLAIN = st.characters(blacklist_categories=("Cs", "Cc"))
ANY_TEXT = st.characters(blacklist_categories=("Cs", "Cn"))  # NUL and friends included
TAG = st.text(PLAIN, min_size=1, max_size=12)
SEGMENT = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/"),
    min_size=1,
    max_size=8,
).filter(lambda s: s != "..")
CREATE_BODY = st.fixed_dictionaries(
    {
        "priority": st.sampled_from([0, 1, 100, 65535]) | st.integers(0, 65535),
        "query_context": st.fixed_dictionaries(
            {
                "tags": st.lists(TAG, max_size=3),
                "description": st.text(ANY_TEXT, max_size=30),
            }
        ),
        "dest_path": st.lists(SEGMENT, min_size=1, max_size=3).map(lambda s: "/" + "/".join(s)),
    }
)
REASON = st.none() | st.text(ANY_TEXT, max_size=20)
# A merge patch of the fields an edit may change: any of them, or none.
PATCH = st.fixed_dictionaries(
    {},
    optional={
        "priority": CREATE_BODY.map(lambda body: body["priority"]),
        "query_context": st.fixed_dictionaries(
            {},
            optional={
                "tags": st.lists(TAG, max_size=3),
                "description": st.text(ANY_TEXT, max_size=30),
            },
        ),
        "dest_path": CREATE_BODY.map(lambda body: body["dest_path"]),
    },
)
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"


def queue_order(ticket: dict[str, Any]) -> tuple[int, str, str]:
    return (-ticket["priority"], ticket["created_at"], ticket["id"])


class TicketLifecycle(RuleBasedStateMachine):
    """The API (through Chalice's test client) and the store, against a dict of tickets."""

    ticket_ids = Bundle("ticket_ids")

    def __init__(self) -> None:
        super().__init__()
        self.directory = Path(tempfile.mkdtemp(prefix="torrentino-model-"))
        self.db_path = self.directory / "torrentino.db"
        self.saved_env = os.environ.get(DB_PATH_VARIABLE)
        os.environ[DB_PATH_VARIABLE] = str(self.db_path)
        self.client = Client(app, project_dir=str(PROJECT_DIR))
        self.model: dict[str, dict[str, Any]] = {}  # id -> the ticket as the API shows it
        self.events: dict[str, list[str]] = {}  # id -> its event types, oldest first

    def teardown(self) -> None:
        try:
            report = check_database(self.db_path)
            assert report.ok, report.problems
        finally:
            startup.stop(self.db_path)
            if self.saved_env is None:
                os.environ.pop(DB_PATH_VARIABLE, None)
            else:
                os.environ[DB_PATH_VARIABLE] = self.saved_env
            shutil.rmtree(self.directory, ignore_errors=True)

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        data = json.dumps(body).encode() if body is not None else b""
        response = self.client.http.request(method, path, headers=headers, body=data)
        return response.status_code, json.loads(response.body)

    # --- rules -----------------------------------------------------------------------

    @rule(target=ticket_ids, body=CREATE_BODY)
    def create(self, body: dict[str, Any]) -> str:
        status, ticket = self.call("POST", "/api/v1/tickets", body)
        assert status == 201, ticket
        assert {key: ticket[key] for key in body} == body
        assert ticket["state"] == "pending" and ticket["created_by"] == "anonymous"
        assert ticket["id"] not in self.model
        self.model[ticket["id"]] = ticket
        self.events[ticket["id"]] = ["ticket_created"]
        return str(ticket["id"])

    @rule(body=CREATE_BODY, field=st.sampled_from(["priority", "dest_path", "query_context"]))
    def create_invalid(self, body: dict[str, Any], field: str) -> None:
        broken = {"priority": 65536, "dest_path": "relative", "query_context": {"tags": [""]}}
        status, _ = self.call("POST", "/api/v1/tickets", {**body, field: broken[field]})
        assert status == 400

    @rule(ticket_id=ticket_ids)
    def get(self, ticket_id: str) -> None:
        status, ticket = self.call("GET", f"/api/v1/tickets/{ticket_id}")
        assert status == 200
        assert ticket == self.model[ticket_id]

    @rule(ticket_id=st.sampled_from([UNKNOWN_ID, "nonsense", "' OR 1=1 --"]))
    def get_unknown(self, ticket_id: str) -> None:
        assert self.call("GET", f"/api/v1/tickets/{ticket_id}")[0] == 404

    @rule(
        state=st.sampled_from([None, "pending", "cancelled", "completed", "failed"]),
        limit=st.integers(1, 4),
        offset=st.integers(0, 6),
    )
    def list_page(self, state: str | None, limit: int, offset: int) -> None:
        query = f"limit={limit}&offset={offset}" + (f"&state={state}" if state else "")
        status, page = self.call("GET", f"/api/v1/tickets?{query}")
        assert status == 200
        matching = sorted(
            (t for t in self.model.values() if state is None or self.kind(t) == state),
            key=queue_order,
        )
        shown = matching[offset : offset + limit]
        more = offset + limit < len(matching)
        assert page == {
            "tickets": shown,
            "total": len(matching),
            "limit": limit,
            "offset": offset,
            "next": (
                f"/api/v1/tickets?limit={limit}"
                + (f"&state={state}" if state else "")
                + f"&after={shown[-1]['id']}"
                if more
                else None
            ),
        }

    @rule(ticket_id=ticket_ids, reason=REASON)
    def cancel(self, ticket_id: str, reason: str | None) -> None:
        body = {"reason": reason} if reason is not None else None
        status, answer = self.call("DELETE", f"/api/v1/tickets/{ticket_id}", body)
        if self.model[ticket_id]["state"] != "pending":
            assert status == 409
            assert answer["error"]["code"] == "invalid_transition"
            return
        assert status == 200
        cancelled = answer["state"]["cancelled"]
        assert (cancelled["cancelled_by"], cancelled["reason"]) == ("anonymous", reason)
        self.model[ticket_id] = {**self.model[ticket_id], "state": answer["state"]}
        assert answer == self.model[ticket_id]
        self.events[ticket_id].append("ticket_cancelled")

    @rule(ticket_id=ticket_ids, outcome=st.sampled_from(["completed", "failed"]))
    def finish(self, ticket_id: str, outcome: str) -> None:
        now = utc_now()
        state = (
            Completed(completed_at=now)
            if outcome == "completed"
            else Failed(error="no seeders", failed_at=now)
        )
        try:
            ticket = with_storage(
                self.db_path, lambda s: s.tickets.update_state(ticket_id, state, actor="worker")
            )
        except InvalidTransition:
            assert self.model[ticket_id]["state"] != "pending"
            return
        assert self.model[ticket_id]["state"] == "pending"
        self.model[ticket_id] = ticket.model_dump(mode="json")
        self.events[ticket_id].append("ticket_state_changed")

    @rule(ticket_id=ticket_ids, patch=PATCH)
    def edit(self, ticket_id: str, patch: dict[str, Any]) -> None:
        status, answer = self.call("PATCH", f"/api/v1/tickets/{ticket_id}", patch)
        ticket = self.model[ticket_id]
        if ticket["state"] != "pending":
            assert status == 409
            assert answer["error"]["code"] == "ticket_not_pending"
            return
        context = {**ticket["query_context"], **patch.get("query_context", {})}
        edited = {**ticket, **patch, "query_context": context}
        assert status == 200, answer
        assert answer == edited
        if edited != ticket:  # a patch that changes nothing records nothing
            self.events[ticket_id].append("ticket_updated")
        self.model[ticket_id] = edited

    @rule(data=st.data())
    def search_by_tag(self, data: st.DataObject) -> None:
        held = sorted({tag for t in self.model.values() for tag in t["query_context"]["tags"]})
        tag = data.draw(st.sampled_from(held or ["no-such-tag"]))
        status, page = self.call("GET", f"/api/v1/tickets?limit=1000&tag={quote(tag, safe='')}")
        assert status == 200
        found = [t for t in self.model.values() if tag in t["query_context"]["tags"]]
        assert page["tickets"] == sorted(found, key=queue_order)
        assert page["total"] == len(found)

    # --- after every step ----------------------------------------------------------------

    @staticmethod
    def kind(ticket: dict[str, Any]) -> str:
        state = ticket["state"]
        return state if isinstance(state, str) else next(iter(state))

    @invariant()
    def api_model_and_audit_log_agree(self) -> None:
        status, page = self.call("GET", "/api/v1/tickets?limit=1000")
        assert status == 200
        assert page["tickets"] == sorted(self.model.values(), key=queue_order)
        status, audit = self.call("GET", "/api/v1/audit?limit=1000")
        assert status == 200
        by_ticket: dict[str, list[AuditEvent]] = {}
        for event in audit["events"]:
            if event["event_type"] != "service_started":
                by_ticket.setdefault(event["data"]["ticket_id"], []).append(
                    AuditEvent.model_validate(event)
                )
        assert {tid: [e.event_type.value for e in evs] for tid, evs in by_ticket.items()} == (
            self.events
        )
        for ticket_id, events in by_ticket.items():
            assert replay(events).model_dump(mode="json") == self.model[ticket_id]


TicketLifecycle.TestCase.settings = settings(
    max_examples=40,
    stateful_step_count=25,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_ticket_lifecycle = TicketLifecycle.TestCase
