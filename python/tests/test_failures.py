"""Tests that must fail, run as a child pytest whose outcome and message are asserted."""

from __future__ import annotations

import sys

import pytest

from pymocket.session import current_session
from conftest import INTERCEPTION_VARIABLES, run_child


def test_an_unmet_expectation_fails_the_test_naming_entry_and_counts(pytester):
    result = run_child(pytester, """
        def test_charges(mocket):
            mocket.http("POST", "https://api.stripe.com/v1/charges",
                        response={"status": 201}).expect(1)
            mocket.http("GET", "http://api.example.com/v1/users", response={}).expect((2, None))
    """)
    result.assert_outcomes(failed=1)
    output = result.stdout.str()
    assert "test_child.py::test_charges" in output
    assert "POST https://api.stripe.com/v1/charges" in output
    assert "GET http://api.example.com/v1/users" in output
    assert "VerificationFailed" in output
    assert "POST https://api.stripe.com/v1/charges: expected exactly 1 request, got 0" in output
    assert "GET http://api.example.com/v1/users: expected at least 2 requests, got 0" in output


def test_an_unmatched_request_gets_501_and_fails_with_the_nearest_miss(pytester):
    result = run_child(pytester, """
        import requests

        def test_lookup(mocket):
            mocket.http("GET", "http://api.example.com/v1/users/1", response={"json": {}})
            answer = requests.get("http://api.example.com/v1/users/2", timeout=10)
            assert answer.status_code == 501
            assert [r.matched for r in mocket.requests] == [False]
            assert mocket.requests[0].miss
            print("the test body ran to its end")
    """)
    result.assert_outcomes(failed=1)
    output = result.stdout.str()
    assert "unmatched request GET http://api.example.com/v1/users/2" in output
    assert "path differs: /v1/users/2 vs /v1/users/1" in output
    assert "the test body ran to its end" in output


def test_a_raising_callback_answers_500_and_fails_with_its_traceback(pytester):
    result = run_child(pytester, """
        import requests

        def lookup(req):
            raise ValueError("boom from the callback")

        def test_swallowed(mocket):
            mocket.http("GET", "http://api.example.com/v1/users/1", respond_with=lookup)
            answer = requests.get("http://api.example.com/v1/users/1", timeout=10)
            assert answer.status_code == 500
            assert "ValueError: boom from the callback" in answer.text
            print("the test body ran to its end")

        def test_raised(mocket):
            mocket.http("GET", "http://api.example.com/v1/users/1", respond_with=lookup)
            requests.get("http://api.example.com/v1/users/1", timeout=10).raise_for_status()
    """)
    result.assert_outcomes(failed=2)
    output = result.stdout.str()
    assert output.count("ValueError: boom from the callback") >= 2
    assert "Traceback (most recent call last)" in output
    assert 'raise ValueError("boom from the callback")' in output
    assert "HTTPError" in output  # the test's own failure is kept, the callback's chained to it
    assert "the test body ran to its end" in output


def test_a_callback_returning_a_non_dict_fails_the_test(pytester):
    result = run_child(pytester, """
        import urllib.error, urllib.request, pytest

        def test_bad_return(mocket):
            mocket.http("GET", "http://api.example.com/x", respond_with=lambda req: 200)
            with pytest.raises(urllib.error.HTTPError) as error:
                urllib.request.urlopen("http://api.example.com/x", timeout=10)
            assert error.value.code == 500
            print("the test body ran to its end")
    """)
    result.assert_outcomes(failed=1)
    output = result.stdout.str()
    assert ("respond_with of GET http://api.example.com/x failed: TypeError: respond_with must "
            "return a dict") in output
    assert "the test body ran to its end" in output


def test_verify_raises_inside_the_test(pytester):
    result = run_child(pytester, """
        import pytest, pymocket

        def test_verify(mocket):
            mocket.http("DELETE", "http://api.example.com/v1/users/1").expect(1)
            with pytest.raises(pymocket.VerificationFailed) as failed:
                mocket.verify()
            assert "DELETE http://api.example.com/v1/users/1" in str(failed.value)
            assert failed.value.verdict["passed"] is False
            assert failed.value.verdict["failures"][0]["actual"] == 0
            mocket.http("DELETE", "http://api.example.com/v1/users/2").expect(0)
            print("the test body ran to its end")
    """)
    result.assert_outcomes(failed=1)  # verify() is checked again when the test ends
    output = result.stdout.str()
    assert "DELETE http://api.example.com/v1/users/1: expected exactly 1 request, got 0" in output
    assert "the test body ran to its end" in output  # so its asserts held
    assert "InvalidEntry" not in output


def test_a_passing_child_passes(pytester):
    """The control for the tests above: the same machinery reports a pass as a pass."""
    result = run_child(pytester, """
        import requests

        def test_ok(mocket):
            mocket.http("GET", "http://api.example.com/ok", response={"body": "fine"}).expect(1)
            assert requests.get("http://api.example.com/ok", timeout=10).text == "fine"
    """)
    result.assert_outcomes(passed=1)


def test_without_interception_the_fixture_fails_with_one_line(pytester):
    result = run_child(pytester, """
        def test_needs_mocket(mocket):
            pass
    """, remove=INTERCEPTION_VARIABLES)
    result.assert_outcomes(errors=1)
    output = result.stdout.str()
    lines = [line for line in output.splitlines() if "nothing intercepts this process" in line]
    assert lines, output
    assert "mocket run -- pytest" in lines[0] and "LD_PRELOAD=" in lines[0]
    assert "Traceback" not in output
    assert not any(f"pymocket/{module}.py" in output for module in ("api", "session", "plugin"))


def test_pytest_help_lists_the_fixture(pytester):
    pytester.makepyfile(test_child="def test_x(mocket): pass")
    # Plugin autoloading on: pytest finds pymocket through its pytest11 entry point.
    result = pytester.run("env", "--unset=PYTEST_DISABLE_PLUGIN_AUTOLOAD",
                          *(f"--unset={name}" for name in INTERCEPTION_VARIABLES),
                          sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--fixtures",
                          timeout=60)
    assert "mocket" in result.stdout.str()
    assert "This test's mocket scope" in result.stdout.str()


@pytest.mark.parametrize("count", [True, "1", (3, 1), (-1, None), [1, 2]])
def test_expect_refuses_bad_counts(mocket, count):
    entry = mocket.http("GET", "http://api.example.com/never", response={})
    with pytest.raises((TypeError, ValueError)):
        entry.expect(count)


def test_a_lease_held_too_long_fails_naming_the_holder(pytester):
    if current_session().placement != "embedded":
        pytest.skip("the daemon's MOCKET_LEASE_TIMEOUT_MS is fixed when `mocket run` starts")
    result = run_child(pytester, """
        import threading, pymocket

        def test_holder(mocket):
            mocket.http("GET", "http://busy.example.com/", response={})
            failure = {}

            def contender():
                try:
                    pymocket.Mocket.start("contender").http("GET", "http://busy.example.com/")
                except pymocket.LeaseTimeout as error:
                    failure["error"] = error

            thread = threading.Thread(target=contender)
            thread.start()
            thread.join(30)
            message = str(failure["error"])
            assert "busy.example.com:80" in message
            assert "test_child.py::test_holder" in message
    """, env={"MOCKET_LEASE_TIMEOUT_MS": "300"})
    result.assert_outcomes(passed=1)
