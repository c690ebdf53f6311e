"""The test API: a scope (:class:`Mocket`), its entries (:class:`EntryHandle`)."""

from __future__ import annotations

import os
from urllib.parse import quote, urlencode
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from .errors import InvalidEntry, VerificationFailed
from .protocol import encode_message
from .request import Request
from .session import Responder, Session, current_session

#: ``.expect`` takes an exact count or a ``(min, max)`` range, ``None`` for an open end.
Expectation = Union[int, Tuple[Optional[int], Optional[int]]]

#: A ``respond_with`` callable: gets the request, returns a mocks-file response dict.
RespondWith = Callable[[Request], Mapping[str, Any]]

class _Unset:
    """The default of ``json``/``json_contains``, where ``None`` means JSON ``null``."""

    def __repr__(self) -> str:
        return "<unset>"


_UNSET: Any = _Unset()


class EntryHandle:
    """One registered entry: set its expected count, read its hits and requests."""

    def __init__(self, scope: "Mocket", entry_id: int, label: str, destination: str) -> None:
        self._scope = scope
        #: The engine's id of this entry.
        self.id = entry_id
        #: How reports name it, e.g. ``POST https://api.stripe.com/v1/charges``.
        self.label = label
        #: The ``host:port`` it answers on (its lease is held by this scope).
        self.destination = destination

    def expect(self, count: Expectation) -> "EntryHandle":
        """Expects ``count`` requests by the end of the test: an int (exactly; ``0`` = never)
        or a ``(min, max)`` tuple with ``None`` for an open end. Returns the handle."""
        low, high = _expectation_bounds(count)
        self._scope._call("expect", entry=self.id, min=low, max=high)
        return self

    @property
    def hits(self) -> int:
        """How many requests this entry has answered in this scope."""
        return int(self._scope._call("hits", entry=self.id)["hits"])

    @property
    def requests(self) -> List[Request]:
        """The requests this entry answered, oldest first."""
        reply = self._scope._call("requests", entry=self.id)
        return [Request(raw) for raw in reply.get("requests", [])]

    def __repr__(self) -> str:
        return f"<EntryHandle {self.label}>"


class Mocket:
    """One test's scope: its entries answer before the mocks file's, only while it lives.

    The pytest fixture ``mocket`` gives every test its own, named after the test's node id, and
    verifies it when the test ends. Outside pytest::

        with Mocket.start("my check") as m:
            m.http("GET", "https://api.example.com/health", response={"body": "ok"}).expect(1)
            ...
        # leaving the block verifies and closes the scope
    """

    def __init__(self, session: Session, scope_id: int, name: str) -> None:
        self._session = session
        self._scope = scope_id
        self._closed = False
        #: The test name the engine reports (and names in a lease timeout).
        self.name = name
        #: Tracebacks of ``respond_with`` callables that raised in this scope.
        self.callback_errors: List[str] = []

    @classmethod
    def start(cls, name: Optional[str] = None) -> "Mocket":
        """Opens a scope named ``name`` (default: ``python pid <pid>``).

        Raises :class:`pymocket.NotIntercepted` when neither ``mocket run`` nor
        ``LD_PRELOAD=libmocket.so`` intercepts this process."""
        session = current_session()
        name = name or f"python pid {os.getpid()}"
        reply = session.call("open_scope", name=name, pid=os.getpid())
        return cls(session, int(reply["scope"]), name)

    @property
    def placement(self) -> str:
        """``"daemon"`` (``mocket run``) or ``"embedded"`` (a bare ``LD_PRELOAD``)."""
        return self._session.placement

    def http(
        self,
        method: str,
        url: str,
        *,
        headers: Optional[Mapping[str, Any]] = None,
        query: Optional[Mapping[str, Any]] = None,
        body: Optional[str] = None,
        json: Any = _UNSET,
        json_contains: Any = _UNSET,
        path_regex: Optional[str] = None,
        response: Optional[Mapping[str, Any]] = None,
        responses: Optional[Sequence[Mapping[str, Any]]] = None,
        respond_with: Optional[RespondWith] = None,
        times: Optional[int] = None,
    ) -> EntryHandle:
        """Registers an HTTP(S) entry: ``method`` (``"*"`` for any) and ``url`` as in the mocks
        file; ``headers``, ``query``, ``body``, ``json``, ``json_contains`` and ``path_regex``
        are its ``match`` conditions; ``response`` (a dict like ``{"status": 201, "json": ...}``)
        or ``responses`` (served in order, the last repeats) or ``respond_with`` (a callable
        taking a :class:`Request` and returning such a dict; it runs in this process) answer;
        ``times`` lets it answer that many requests only. With none of the three it answers
        ``200`` with an empty body.

        A bad entry raises :class:`pymocket.InvalidEntry` with the message ``mocket check``
        gives. The call waits while another live test holds the same host:port."""
        match: Dict[str, Any] = {}
        if query and all(isinstance(value, (str, int)) for value in query.values()):
            url = _with_query(url, query)  # the URL's query means the same: present and equal
        elif query:
            match["query"] = dict(query)  # regex / absent conditions (mocks file section 7)
        entry: Dict[str, Any] = {"http": f"{method} {url}"}
        for key, value in (("headers", headers), ("body", body), ("path_regex", path_regex)):
            if value is not None:
                match[key] = dict(value) if isinstance(value, Mapping) else value
        if json is not _UNSET:
            match["json"] = json
        if json_contains is not _UNSET:
            match["json_contains"] = json_contains
        if match:
            entry["match"] = match
        if response is not None:
            entry["response"] = dict(response)
        if responses is not None:
            entry["responses"] = [dict(one) for one in responses]
        if response is None and responses is None and respond_with is None:
            entry["response"] = {}  # 200 with an empty body
        if times is not None:
            entry["times"] = times
        return self._register(entry, respond_with)

    def entry(self, entry: Mapping[str, Any]) -> EntryHandle:
        """Registers any mocks-file entry (``http``, ``redis``, ``tcp``; DESIGN sections 3
        and 7), e.g. ``{"redis": "cache.internal:6379", "emulate": True}``."""
        return self._register(dict(entry), None)

    @property
    def requests(self) -> List[Request]:
        """Every request this scope answered or could not match, oldest first."""
        reply = self._call("requests")
        return [Request(raw) for raw in reply.get("requests", [])]

    def verify(self) -> None:
        """Checks now: raises :class:`pymocket.VerificationFailed` naming each entry whose
        expectation failed (expected and actual count), each unmatched request with its
        nearest miss, and each ``respond_with`` that raised."""
        __tracebackhide__ = True
        self._raise_if_failed(self._call("verify"))

    def close(self) -> Dict[str, Any]:
        """Verifies and removes the scope (its entries stop answering, its leases are
        released); returns the engine's verdict. Closing twice returns an empty verdict."""
        if self._closed:
            return {"passed": True, "message": None}
        self._closed = True
        try:
            return self._call("close_scope")
        finally:
            self._session.drop_scope(self._scope)

    def failure_report(self, verdict: Mapping[str, Any]) -> Optional[str]:
        """The text a failed verdict is reported with, or None when it passed (callback errors
        recorded in this process count as a failure even if the engine missed them)."""
        parts = []
        if not verdict.get("passed", False):
            parts.append(str(verdict.get("message") or f"mocket: test {self.name!r} failed: {verdict}"))
        errors_reported = "\n".join(verdict.get("errors") or [])
        missing = [e for e in self.callback_errors if e.splitlines()[0] not in errors_reported]
        if missing:
            parts.append(f"mocket: test {self.name!r}: respond_with failed in this process:")
            parts.extend(missing)
        return "\n".join(parts) if parts else None

    def __enter__(self) -> "Mocket":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        verdict = self.close()
        if exc_type is None:
            self._raise_if_failed(verdict)

    def __repr__(self) -> str:
        return f"<Mocket scope {self._scope} {self.name!r} ({self.placement})>"

    def _register(self, entry: Dict[str, Any], respond_with: Optional[RespondWith]) -> EntryHandle:
        if respond_with is not None and not callable(respond_with):
            raise TypeError("respond_with must be a callable taking a pymocket.Request")
        try:
            encode_message(entry)
        except (TypeError, ValueError) as error:
            raise InvalidEntry(f"the entry is not JSON: {error}") from None
        reply = self._call("register", entry=entry, responder=respond_with is not None)
        handle = EntryHandle(self, int(reply["entry"]), str(reply.get("label", "")),
                             str(reply.get("destination", "")))
        if respond_with is not None:
            self._session.add_responder(
                self._scope, handle.id, Responder(respond_with, handle.label, self.callback_errors)
            )
        return handle

    def _call(self, op: str, **fields: Any) -> Dict[str, Any]:
        return self._session.call(op, scope=self._scope, **fields)

    def _raise_if_failed(self, verdict: Mapping[str, Any]) -> None:
        __tracebackhide__ = True
        report = self.failure_report(verdict)
        if report is not None:
            raise VerificationFailed(report, dict(verdict))


def _with_query(url: str, query: Mapping[str, Any]) -> str:
    """``url`` with ``query``'s parameters added to its query string."""
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}{urlencode({name: str(value) for name, value in query.items()}, quote_via=quote)}"


def _expectation_bounds(count: Expectation) -> Tuple[Optional[int], Optional[int]]:
    """``3`` -> (3, 3); ``(1, None)`` -> (1, None); anything else is a ``TypeError``."""
    if isinstance(count, int) and not isinstance(count, bool):
        bounds: Tuple[Any, Any] = (count, count)
    elif isinstance(count, tuple) and len(count) == 2:
        bounds = count
    else:
        raise TypeError(f"expect takes an int or a (min, max) tuple, not {count!r}")
    for bound in bounds:
        if bound is not None and (not isinstance(bound, int) or isinstance(bound, bool) or bound < 0):
            raise ValueError(f"expect bounds are counts >= 0 or None, not {bound!r}")
    low, high = bounds
    if low is not None and high is not None and low > high:
        raise ValueError(f"expect range ({low}, {high}) is empty: min is above max")
    return low, high
