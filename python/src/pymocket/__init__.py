"""pymocket: mocket's test API for Python, as a pytest plugin.

Every test that takes the ``mocket`` fixture gets its own scope: the entries it declares answer
its requests (from any client: requests, httpx, aiohttp, urllib, redis-py, sockets, subprocesses)
before the mocks file's, with real host names and HTTPS, and are checked when the test ends::

    def test_checkout(mocket):
        charge = mocket.http("POST", "https://api.stripe.com/v1/charges",
                             json_contains={"amount": 1200},
                             response={"status": 201, "json": {"id": "ch_1"}}).expect(1)
        shop.checkout(1, 1200)
        assert charge.requests[0].json()["amount"] == 1200

Run the tests under ``mocket run -- pytest`` or ``LD_PRELOAD=/path/to/libmocket.so pytest``.
"""

from ._version import __version__
from .api import EntryHandle, Expectation, Mocket, RespondWith
from .errors import (
    InvalidEntry,
    LeaseTimeout,
    MocketError,
    NotIntercepted,
    ProtocolError,
    VerificationFailed,
)
from .request import Request

__all__ = [
    "EntryHandle",
    "Expectation",
    "InvalidEntry",
    "LeaseTimeout",
    "Mocket",
    "MocketError",
    "NotIntercepted",
    "ProtocolError",
    "Request",
    "RespondWith",
    "VerificationFailed",
    "__version__",
]
