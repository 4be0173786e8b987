"""The seed's manual testing guide, step by step, against a real `chalice local`."""

from __future__ import annotations

from harness.server_process import Server
from tests.manual_guide import walk_manual_testing_guide


def test_manual_testing_guide(fresh_server: Server) -> None:
    # 1. Start the server: the fixture did, as `make run` does. The rest: the helper.
    walk_manual_testing_guide(f"{fresh_server.url}/api/v1")
