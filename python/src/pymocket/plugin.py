"""The pytest plugin (entry point ``pytest11``: ``pymocket``): the ``mocket`` fixture.

The scope is verified right after the test function returns, inside the test's call phase, so a
failed expectation, an unmatched request or a ``respond_with`` that raised is a test *failure*
(not a teardown error), reported with the engine's message. A test that already failed is not
verified again, but the traceback of a ``respond_with`` that raised is chained to its failure
(the 500 it caused is often what made the test fail).
"""

from __future__ import annotations

from typing import Generator

import pytest

from .api import Mocket
from .errors import NotIntercepted, VerificationFailed

_SCOPE = pytest.StashKey[Mocket]()
_VERIFIED = pytest.StashKey[bool]()


@pytest.fixture
def mocket(request: pytest.FixtureRequest) -> Generator[Mocket, None, None]:
    """This test's mocket scope (:class:`pymocket.Mocket`): ``mocket.http(...)``,
    ``mocket.entry({...})``, ``mocket.requests``, ``mocket.verify()``. Its entries answer only
    during this test and are verified when it ends."""
    try:
        scope = Mocket.start(request.node.nodeid)
    except NotIntercepted as error:
        not_intercepted = str(error)
    else:
        not_intercepted = None
    if not_intercepted is not None:  # outside the except block: one line, no chained traceback
        pytest.fail(not_intercepted, pytrace=False)
    request.node.stash[_SCOPE] = scope
    try:
        yield scope
    finally:
        verdict = scope.close()
        del request.node.stash[_SCOPE]
    # Requests made after the call phase (by other fixtures' teardown) are checked here.
    if request.node.stash.get(_VERIFIED, False):
        report = scope.failure_report(verdict)
        if report is not None:
            raise VerificationFailed(report, verdict)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    __tracebackhide__ = True  # the report is the engine's message, not this hook's frames
    try:
        result = yield
    except Exception as failure:
        scope = item.stash.get(_SCOPE, None)
        if scope is not None and scope.callback_errors and not isinstance(failure, VerificationFailed):
            raise VerificationFailed(
                f"mocket: test {scope.name!r} failed; its respond_with raised:\n"
                + "\n".join(scope.callback_errors)
            ) from failure
        raise
    scope = item.stash.get(_SCOPE, None)
    if scope is not None:
        scope.verify()
        item.stash[_VERIFIED] = True
    return result
