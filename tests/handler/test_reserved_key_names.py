"""`POST /api/v1/keys` refuses the service's own actor names in every spelling that reads
the same, as `make keys` and the `keys` Lambda function do
(tests/store/test_reserved_names.py holds the spellings)."""

from __future__ import annotations

import pytest

from tests.handler.conftest import Api
from tests.store.test_reserved_names import HOSTILE


@pytest.mark.parametrize("spelling", sorted(HOSTILE))
def test_the_api_makes_no_key_for_a_hostile_spelling(api: Api, spelling: str) -> None:
    status, answer, headers = api.call("POST", "/api/v1/keys", {"user": spelling, "role": "admin"})
    assert status == 400
    assert answer["error"]["code"] == "invalid_input"
    assert "reserved" in answer["error"]["message"]
    assert [detail["field"] for detail in answer["error"]["details"]] == ["user"]
    assert headers["Cache-Control"] == "no-store"
    status, listed, _ = api.call("GET", "/api/v1/keys")
    assert (status, listed["keys"]) == (200, [])
