"""Connection handling of the launcher: keep-alive, and `Connection: close` honoured."""

from __future__ import annotations

import http.client

from harness.server_process import Server


def test_health_over_one_keep_alive_connection(server: Server) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        for _ in range(3):
            conn.request("GET", "/api/v1/health")
            response = conn.getresponse()
            assert (response.status, response.read()) == (200, b'{"status":"ok"}')
            assert not response.will_close
    finally:
        conn.close()


def test_a_client_asking_to_close_is_told_the_connection_closes(server: Server) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("GET", "/api/v1/health", headers={"Connection": "close"})
        response = conn.getresponse()
        response.read()
        assert response.status == 200
        assert response.getheader("Connection") == "close"
    finally:
        conn.close()
