"""Unit tests of pymocket's framing and socket transport, against a scripted peer on a
socketpair (no engine needed: these test only the client's own framing and routing)."""

from __future__ import annotations

import json
import socket
import threading
import time
from typing import Any, Dict, List

import pytest

from pymocket.errors import InvalidEntry, LeaseTimeout, MocketError, ProtocolError
from pymocket.protocol import LineDecoder, SocketTransport, decode_message, encode_message


class Peer:
    """The engine's end of a socketpair, driven line by line by the test."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.file = sock.makefile("rb")

    def read(self) -> Dict[str, Any]:
        line = self.file.readline()
        assert line.endswith(b"\n"), f"client sent an unterminated line: {line!r}"
        return json.loads(line)

    def send(self, message: Dict[str, Any]) -> None:
        self.sock.sendall(json.dumps(message).encode() + b"\n")


@pytest.fixture
def pair():
    client_end, engine_end = socket.socketpair()
    calls: List[Dict[str, Any]] = []
    transport = SocketTransport(client_end, calls.append, limit=1024)
    yield transport, Peer(engine_end), calls
    transport.close()
    engine_end.close()


def request_in_thread(transport: SocketTransport, message: Dict[str, Any]):
    box: Dict[str, Any] = {}

    def run() -> None:
        try:
            box["reply"] = transport.request(message, timeout=5)
        except MocketError as error:
            box["error"] = error

    thread = threading.Thread(target=run)
    thread.start()
    return thread, box


def test_encode_is_one_line_with_escaped_newlines():
    data = encode_message({"op": "register", "entry": {"body": "a\nb"}, "é": "ü"})
    assert data.endswith(b"\n") and data.count(b"\n") == 1
    assert decode_message(data[:-1]) == {"op": "register", "entry": {"body": "a\nb"}, "é": "ü"}


def test_encode_refuses_what_json_cannot_carry():
    with pytest.raises(ValueError):
        encode_message({"x": float("nan")})
    with pytest.raises(TypeError):
        encode_message({"x": object()})


def test_decoder_splits_and_joins_pieces():
    decoder = LineDecoder(limit=100)
    assert decoder.feed(b'{"id": 1, "ok"') == []
    assert decoder.feed(b': true}\n{"call": 2}\n\n{"id"') == [{"id": 1, "ok": True}, {"call": 2}]
    assert decoder.feed(b": 3}\n") == [{"id": 3}]


def test_decoder_refuses_a_line_over_the_limit_even_without_newline():
    decoder = LineDecoder(limit=16)
    with pytest.raises(ProtocolError, match="longer than 16 bytes"):
        decoder.feed(b"{" + b" " * 20)
    with pytest.raises(ProtocolError, match="longer than 16 bytes"):
        LineDecoder(limit=16).feed(b'{"x": "' + b"y" * 20 + b'"}\n')


def test_decoder_refuses_non_objects_and_bad_json():
    with pytest.raises(ProtocolError, match="not an object"):
        LineDecoder().feed(b"[1]\n")
    with pytest.raises(ProtocolError, match="not JSON"):
        LineDecoder().feed(b"{nope\n")


def test_replies_are_routed_by_id_even_out_of_order(pair):
    transport, peer, _ = pair
    first, first_box = request_in_thread(transport, {"op": "hits", "entry": 1})
    one = peer.read()
    second, second_box = request_in_thread(transport, {"op": "hits", "entry": 2})
    two = peer.read()
    assert one["id"] != two["id"]
    peer.send({"id": two["id"], "ok": True, "hits": 2})
    peer.send({"id": one["id"], "ok": True, "hits": 1})
    first.join(5)
    second.join(5)
    assert first_box["reply"]["hits"] == 1
    assert second_box["reply"]["hits"] == 2


def test_calls_are_dispatched_while_a_request_waits(pair):
    transport, peer, calls = pair
    thread, box = request_in_thread(transport, {"op": "register"})
    message = peer.read()
    peer.send({"call": 7, "op": "respond_with", "scope": 1, "entry": 2, "request": {}})
    peer.send({"id": message["id"], "ok": True, "entry": 2})
    thread.join(5)
    assert box["reply"]["entry"] == 2
    assert calls == [{"call": 7, "op": "respond_with", "scope": 1, "entry": 2, "request": {}}]


def test_a_closed_peer_fails_the_waiting_request_and_later_ones(pair):
    transport, peer, _ = pair
    thread, box = request_in_thread(transport, {"op": "verify"})
    peer.read()
    peer.sock.shutdown(socket.SHUT_RDWR)
    thread.join(5)
    assert box["error"].kind == "disconnected"
    with pytest.raises(MocketError) as later:
        transport.request({"op": "hits"}, timeout=5)
    assert later.value.kind == "disconnected"


def test_an_oversized_line_from_the_peer_fails_closed(pair):
    transport, peer, _ = pair
    thread, box = request_in_thread(transport, {"op": "requests"})
    peer.read()
    peer.sock.sendall(b'{"id": 1, "x": "' + b"z" * 2000)
    thread.join(5)
    assert box["error"].kind == "protocol"
    assert "longer than 1024 bytes" in box["error"].message


def test_a_silent_peer_times_out_with_a_message(pair):
    transport, peer, _ = pair
    started = time.monotonic()
    with pytest.raises(MocketError) as error:
        transport.request({"op": "hits"}, timeout=0.2)
    assert error.value.kind == "timeout"
    assert "no reply to 'hits'" in error.value.message
    assert time.monotonic() - started < 5
    peer.read()


def test_error_replies_become_typed_exceptions():
    invalid = MocketError.from_reply(
        {"kind": "invalid", "message": "response.status: must be 100-999", "key": "response.status"}
    )
    assert isinstance(invalid, InvalidEntry) and isinstance(invalid, ValueError)
    assert invalid.key == "response.status"
    assert isinstance(MocketError.from_reply({"kind": "lease_timeout", "message": "held"}), LeaseTimeout)
    other = MocketError.from_reply({"kind": "no_scope", "message": "scope 9 does not exist"})
    assert other.kind == "no_scope" and str(other) == "scope 9 does not exist"


def test_the_api_documents_itself_in_help():
    import pydoc

    import pymocket

    text = pydoc.render_doc(pymocket.Mocket, renderer=pydoc.plaintext)
    for expected in ("Registers an HTTP(S) entry", "Registers any mocks-file entry",
                     "Every request this scope answered", "Checks now", "Opens a scope named"):
        assert expected in text
    assert "Expects ``count`` requests" in pydoc.render_doc(pymocket.EntryHandle,
                                                          renderer=pydoc.plaintext)
    assert "nearest-miss text" in pydoc.render_doc(pymocket.Request, renderer=pydoc.plaintext)
    assert "This test's mocket scope" in pydoc.render_doc(
        __import__("pymocket.plugin", fromlist=["mocket"]).mocket, renderer=pydoc.plaintext)
