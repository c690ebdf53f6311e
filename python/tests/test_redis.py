"""The fixture with redis-py: command entries and the per-scope emulator."""

from __future__ import annotations

import redis

from pymocket import Mocket


def client() -> redis.Redis:
    return redis.Redis(host="cache.internal", port=6379, socket_timeout=10)


def test_command_entry_is_counted_and_recorded(mocket):
    greeting = mocket.entry(
        {"redis": "cache.internal:6379", "command": ["GET", "greeting"], "response": "hello"}
    ).expect(1)
    assert client().get("greeting") == b"hello"
    assert greeting.hits == 1
    sent = greeting.requests[0]
    assert sent.protocol == "redis"
    assert [part.upper() if i == 0 else part for i, part in enumerate(sent.command)] == [
        "GET", "greeting"]


def test_emulator_is_seeded_and_stateful(mocket):
    mocket.entry({"redis": "cache.internal:6379", "emulate": True, "data": {"user:1": "Ada"}})
    cache = client()
    assert cache.get("user:1") == b"Ada"
    cache.set("visits", 1)
    assert cache.incr("visits") == 2
    assert cache.get("visits") == b"2"


def test_each_scope_gets_a_fresh_emulator():
    with Mocket.start("writer") as first:
        first.entry({"redis": "cache.internal:6379", "emulate": True})
        client().set("left-behind", "yes")
        assert client().get("left-behind") == b"yes"
    with Mocket.start("reader") as second:
        second.entry({"redis": "cache.internal:6379", "emulate": True})
        assert client().get("left-behind") is None
