"""The fixture with a raw socket: a scripted TCP entry."""

from __future__ import annotations

import socket


def test_a_raw_socket_talks_to_a_tcp_entry(mocket):
    legacy = mocket.entry({"tcp": "legacy.internal:9000", "greeting": "220 ready\r\n",
                           "request": "HELO me\r\n", "response": "250 ok\r\n"}).expect(1)
    with socket.create_connection(("legacy.internal", 9000), timeout=10) as conn:
        reader = conn.makefile("rb")
        assert reader.readline() == b"220 ready\r\n"
        conn.sendall(b"HELO me\r\n")
        assert reader.readline() == b"250 ok\r\n"
    assert legacy.hits == 1
    assert legacy.requests[0].protocol == "tcp"
