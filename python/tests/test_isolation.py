"""Scopes of one process: the same host is served by one scope at a time (leases), pooled
keep-alive connections are answered by the scope that holds the host now, and other hosts stay
parallel."""

from __future__ import annotations

import threading
import time

import requests

from pymocket import Mocket


def test_a_pooled_connection_is_answered_by_the_current_scope():
    shared = requests.Session()  # one keep-alive pool across both scopes
    for word in ("first", "second", "third"):
        with Mocket.start(f"scope {word}") as scope:
            who = scope.http("GET", "http://shared.example.com/who", response={"body": word})
            assert shared.get("http://shared.example.com/who", timeout=10).text == word
            assert who.hits == 1


def test_same_host_waits_for_the_holder_and_other_hosts_do_not():
    holder = Mocket.start("holder")
    holder.http("GET", "http://leased.example.com/x", response={"body": "holder"})
    events = []

    def contender() -> None:
        with Mocket.start("contender") as scope:
            scope.http("GET", "http://leased.example.com/x", response={"body": "contender"})
            events.append(("contender registered", time.monotonic()))
            events.append(("contender got",
                           requests.get("http://leased.example.com/x", timeout=10).text))

    thread = threading.Thread(target=contender)
    thread.start()
    # Another host is not held up by the holder's lease.
    with Mocket.start("bystander") as bystander:
        bystander.http("GET", "http://other.example.com/x", response={"body": "other"})
        assert requests.get("http://other.example.com/x", timeout=10).text == "other"
    time.sleep(0.5)
    assert events == [], "the contender registered while the holder held the host"
    assert requests.get("http://leased.example.com/x", timeout=10).text == "holder"
    released = time.monotonic()
    holder.close()
    thread.join(30)
    assert events[0][0] == "contender registered" and events[0][1] >= released
    assert events[1] == ("contender got", "contender")
