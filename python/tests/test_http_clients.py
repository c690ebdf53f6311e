"""The fixture with real HTTP clients: requests, httpx (sync and async), aiohttp and urllib,
over HTTP and HTTPS with real host names (the engine answers; nothing leaves the host)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request

import aiohttp
import httpx
import pytest
import requests

import pymocket


def test_requests_post_is_matched_counted_and_recorded(mocket):
    charge = mocket.http(
        "POST",
        "https://api.stripe.com/v1/charges",
        json_contains={"amount": 1200},
        response={"status": 201, "json": {"id": "ch_1"}},
    ).expect(1)

    answer = requests.post(
        "https://api.stripe.com/v1/charges?expand=customer",
        json={"amount": 1200, "currency": "eur"},
        headers={"Idempotency-Key": "k-1"},
        timeout=10,
    )

    assert answer.status_code == 201
    assert answer.json() == {"id": "ch_1"}
    assert charge.hits == 1
    sent = charge.requests[0]
    assert isinstance(sent, pymocket.Request)
    assert sent.method == "POST"
    assert sent.path == "/v1/charges"
    assert sent.url.startswith("https://api.stripe.com") and "expand=customer" in sent.url
    assert sent.query == {"expand": "customer"}
    assert sent.headers["idempotency-key"] == "k-1"
    assert sent.json() == {"amount": 1200, "currency": "eur"}
    assert json.loads(sent.text) == json.loads(sent.body)
    assert charge.label == "POST https://api.stripe.com/v1/charges"


def test_httpx_sync_matches_query_and_headers(mocket):
    users = mocket.http(
        "GET",
        "http://api.example.com/v1/users",
        query={"page": 2},
        headers={"authorization": "Bearer t0k"},
        response={"json": [{"id": 1}]},
    )
    with httpx.Client(timeout=10) as client:
        answer = client.get(
            "http://api.example.com/v1/users",
            params={"page": "2", "sort": "id"},
            headers={"Authorization": "Bearer t0k"},
        )
    assert answer.status_code == 200
    assert answer.json() == [{"id": 1}]
    assert users.requests[0].query == {"page": "2", "sort": "id"}
    assert users.requests[0].header("Authorization") == "Bearer t0k"


@pytest.mark.asyncio
async def test_httpx_async_over_https(mocket):
    health = mocket.http("GET", "https://status.example.org/health", response={"body": "ok"})
    async with httpx.AsyncClient(timeout=10) as client:
        answers = [await client.get("https://status.example.org/health") for _ in range(3)]
    assert [a.text for a in answers] == ["ok", "ok", "ok"]
    assert health.hits == 3


@pytest.mark.asyncio
async def test_aiohttp_with_respond_with(mocket):
    mocket.http(
        "PUT",
        "http://inventory.example.com/items/7",
        respond_with=lambda req: {"status": 200, "json": {"echo": req.json(), "path": req.path}},
    ).expect(1)
    async with aiohttp.ClientSession() as session:
        async with session.put("http://inventory.example.com/items/7", json={"n": 3}) as answer:
            assert answer.status == 200
            assert await answer.json() == {"echo": {"n": 3}, "path": "/items/7"}


def test_urllib_with_a_sequence_of_responses(mocket):
    flaky = mocket.http(
        "GET",
        "http://legacy.example.net/status",
        responses=[{"status": 503, "body": "later"}, {"status": 200, "body": "up"}],
    ).expect((2, None))
    with pytest.raises(urllib.error.HTTPError) as first:
        urllib.request.urlopen("http://legacy.example.net/status", timeout=10)
    assert first.value.code == 503
    for _ in range(2):
        with urllib.request.urlopen("http://legacy.example.net/status", timeout=10) as answer:
            assert answer.read() == b"up"
    assert flaky.hits == 3


def test_respond_with_sees_every_part_of_the_request(mocket):
    seen = []

    def echo(req: pymocket.Request):
        seen.append(req)
        return {"status": 202, "headers": {"x-seen": req.method}, "json": {
            "path": req.path, "query": req.query, "agent": req.headers.get("user-agent"),
            "body": req.text}}

    mocket.http("*", "http://echo.example.com/", path_regex="^/echo/.*", respond_with=echo)
    answer = requests.post("http://echo.example.com/echo/a?x=1", data="hi", timeout=10,
                           headers={"user-agent": "pymocket-test"})
    assert answer.status_code == 202
    assert answer.headers["x-seen"] == "POST"
    assert answer.json() == {"path": "/echo/a", "query": {"x": "1"}, "agent": "pymocket-test",
                             "body": "hi"}
    assert len(seen) == 1 and seen[0].body == b"hi"


def test_times_lets_the_next_entry_answer(mocket):
    first = mocket.http("GET", "http://api.example.com/token", times=1, response={"body": "one"})
    mocket.http("GET", "http://api.example.com/token", response={"body": "two"})
    bodies = [requests.get("http://api.example.com/token", timeout=10).text for _ in range(3)]
    assert bodies == ["one", "two", "two"]
    assert first.hits == 1


def test_verify_in_the_middle_and_scope_requests(mocket):
    ping = mocket.http("GET", "http://api.example.com/ping", response={"body": "pong"}).expect(1)
    requests.get("http://api.example.com/ping", timeout=10)
    mocket.verify()
    assert [(r.method, r.path, r.matched) for r in mocket.requests] == [("GET", "/ping", True)]
    assert ping.requests[0].entry == ping.id


def test_a_bad_entry_fails_at_registration_with_the_key(mocket):
    with pytest.raises(pymocket.InvalidEntry) as misspelt:
        mocket.entry({"http": "GET http://api.example.com/", "respons": {"status": 200}})
    assert "respons" in str(misspelt.value)
    with pytest.raises(pymocket.InvalidEntry) as bad_status:
        mocket.http("GET", "http://api.example.com/", response={"status": "two hundred"})
    assert bad_status.value.key is not None and "status" in bad_status.value.key
    with pytest.raises(pymocket.InvalidEntry):
        mocket.http("GET", "http://api.example.com/", path_regex="(unclosed")


def test_a_child_process_gets_the_scope_entries(mocket):
    if mocket.placement != "daemon":
        pytest.skip("only the daemon of `mocket run` serves a whole process tree")
    child = mocket.http("GET", "http://api.example.com/from-child", response={"body": "hi child"})
    program = ("import urllib.request; "
               "print(urllib.request.urlopen('http://api.example.com/from-child').read().decode())")
    out = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                         timeout=60)
    assert out.stdout.strip() == "hi child", out.stderr
    assert child.hits == 1
    assert child.requests[0].pid not in (None, os.getpid())  # it came from the child
