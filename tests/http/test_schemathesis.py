"""Schemathesis against the live server, driven by the server's own OpenAPI document.

Every check runs but `use_after_free`, which expects a DELETEd resource to be gone:
DELETE cancels a ticket, which stays readable in the cancelled state (the seed's design).
Bounded: a fixed seed and a fixed number of examples per operation, so the run is
reproducible and takes seconds.

`positive_data_acceptance` says a request the document calls valid must succeed. A few
statuses are legitimate answers to a valid request, because they depend on what is
already stored rather than on the request; each is declared on its operation in the
document, and named here.

Two operations change what every later request may do, whatever order schemathesis takes
them in: adding a destination restricts every ticket's `dest_path`, and the first key made
in open mode ends open mode (every later request gets 401). They are left out here, and
tested in `tests/handler/test_destinations_and_keys_api.py`.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from harness.server_process import Server

SCHEMATHESIS = str(Path(sys.executable).parent / "schemathesis")

# schemathesis's own default for the check: success, or an answer about the resource.
ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]
# operationId -> the statuses a valid request to it may legitimately get besides those.
STORED_STATE_STATUSES: dict[str, list[str]] = {
    "create_ticket": ["422"],  # its Idempotency-Key was used before for another body
    "cancel_ticket": ["412"],  # its If-Match names a version the ticket no longer has
    "complete_ticket": ["412"],
    "fail_ticket": ["412"],
    # Whether a URL names a service Apprise knows (or an address the rules allow) is not
    # something a JSON schema can say.
    "create_notification_target": ["400"],
    "edit_ticket": ["412", "422"],  # a stale If-Match, or an Idempotency-Key used before
}


# Operations that change what every other request may do (see the docstring).
SERVER_WIDE = ("add_destination", "create_api_key")


def config_file(directory: Path) -> Path:
    """A schemathesis.toml that widens `positive_data_acceptance` per operation."""
    sections = [
        f'[[operations]]\ninclude-operation-id = "{operation}"\n'
        "checks.positive_data_acceptance.expected-statuses = "
        f"{[*ACCEPTED, *statuses]!r}\n".replace("'", '"')
        for operation, statuses in STORED_STATE_STATUSES.items()
    ]
    path = directory / "schemathesis.toml"
    path.write_text("\n".join(sections))
    return path


def test_schemathesis_finds_no_failures(tmp_path: Path) -> None:
    server = Server(tmp_path / "schemathesis.db").start()
    try:
        result = subprocess.run(
            [
                SCHEMATHESIS,
                "--config-file",
                str(config_file(tmp_path)),
                "run",
                f"{server.url}/api/v1/openapi.json",
                "--checks",
                "all",
                "--exclude-checks",
                "use_after_free",
                "--max-examples",
                "30",
                "--seed",
                "20261126",
                "--request-timeout",
                "30",
                "--no-color",
                *(f"--exclude-operation-id={name}" for name in SERVER_WIDE),
            ],
            capture_output=True,
            text=True,
            cwd=tmp_path,  # its cache (.schemathesis/) goes there, not into the work tree
            timeout=600,
            check=False,
        )
    finally:
        server.stop()
    report = result.stdout + result.stderr
    assert result.returncode == 0, report[-8000:]
    assert "generated" in report  # it really ran cases
    assert "Traceback" not in server.log()


def test_the_widened_statuses_are_declared_on_their_operations(tmp_path: Path) -> None:
    import requests  # noqa: PLC0415

    with Server(tmp_path / "declared.db") as server:
        document = requests.get(f"{server.url}/api/v1/openapi.json", timeout=10).json()
    operations = {
        op["operationId"]: op for path in document["paths"].values() for op in path.values()
    }
    for operation, statuses in STORED_STATE_STATUSES.items():
        assert set(statuses) <= set(operations[operation]["responses"]), operation
