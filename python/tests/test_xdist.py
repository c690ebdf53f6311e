"""pytest-xdist: four workers, each its own process and control session. Two tests on one host
get their own answers and, under the daemon, hold the host one after another; two tests on
different hosts run at the same time (each waits until the other is running)."""

from __future__ import annotations

import json

from pymocket.session import current_session
from conftest import run_child

CHILD = """
import json, os, pathlib, time
import pytest, requests

SHARED = pathlib.Path(%(dir)r)


def wait_for(name, seconds=60):
    deadline = time.monotonic() + seconds
    while not (SHARED / name).exists():
        assert time.monotonic() < deadline, f"{name} never appeared: the tests did not overlap"
        time.sleep(0.02)


def record(name, **fields):
    (SHARED / name).write_text(json.dumps(fields))


@pytest.mark.parametrize("who", ["one", "two"])
def test_same_host(mocket, who):
    record(f"ready-{who}")
    wait_for("ready-one"); wait_for("ready-two")  # both register at about the same time
    mocket.http("GET", "http://same.example.com/who", response={"body": who})
    start = time.monotonic()
    for _ in range(5):
        assert requests.get("http://same.example.com/who", timeout=10).text == who
        time.sleep(0.1)
    record(f"held-{who}", start=start, end=time.monotonic(), pid=os.getpid(),
           worker=os.environ.get("PYTEST_XDIST_WORKER"))


@pytest.mark.parametrize("host", ["a", "b"])
def test_other_hosts_overlap(mocket, host):
    mocket.http("GET", f"http://{host}.parallel.example.com/", response={"body": host})
    record(f"running-{host}")
    wait_for("running-a"); wait_for("running-b")
    assert requests.get(f"http://{host}.parallel.example.com/", timeout=10).text == host
"""


def test_four_workers_isolate_and_serialize_per_host(pytester):
    shared = pytester.path / "shared"
    shared.mkdir()
    result = run_child(pytester, CHILD % {"dir": str(shared)}, "-p", "xdist.plugin", "-n", "4")
    result.assert_outcomes(passed=4)
    held = [json.loads((shared / f"held-{who}").read_text()) for who in ("one", "two")]
    assert held[0]["worker"] != held[1]["worker"], "both same-host tests ran on one worker"
    if current_session().placement == "daemon":
        first, second = sorted(held, key=lambda h: h["start"])
        assert first["end"] <= second["start"], f"same-host tests overlapped: {held}"
