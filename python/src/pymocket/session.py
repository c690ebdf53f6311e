"""The process's control session: placement choice, requests and ``respond_with`` calls.

One session per process (a pytest-xdist worker is a process of its own), opened on first use
and shared by every scope of that process. A scope lives until it is closed or the session ends;
the engine closes every scope of a session whose connection closes, so a test process that dies
leaves no mocks and no leases behind.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import time
import traceback
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from ._version import __version__
from .errors import MocketError, NotIntercepted
from .protocol import EmbeddedTransport, SocketTransport, Transport, encode_message, find_control_functions
from .request import Request

#: The protocol version this client speaks.
PROTOCOL_VERSION = 1

#: How long a call waits for its entry's callback to be known (the engine may call before the
#: ``register`` reply has been handled by the registering thread).
RESPONDER_LOOKUP_S = 5.0


def reply_timeout() -> float:
    """How long to wait for any reply: the longest lease wait plus a margin."""
    try:
        lease_ms = int(os.environ.get("MOCKET_LEASE_TIMEOUT_MS", "60000"))
    except ValueError:
        lease_ms = 60000
    return max(lease_ms, 60000) / 1000.0 + 30.0


class Responder:
    """A ``respond_with`` callable and what a failure report needs to name it."""

    def __init__(self, function: Callable[[Request], Mapping[str, Any]], label: str,
                 errors: List[str]) -> None:
        self.function = function
        self.label = label
        self.errors = errors

    def answer(self, request: Request) -> Dict[str, Any]:
        """Runs the callable; returns a mocks-file response dict or raises ``ResponderFailed``."""
        try:
            response = self.function(request)
            if not isinstance(response, Mapping):
                raise TypeError(
                    f"respond_with must return a dict in the mocks file's response shape "
                    f"(e.g. {{'status': 200, 'json': {{...}}}}), not {type(response).__name__}"
                )
            response = dict(response)
            encode_message(response)  # fails here, in the test's process, if it is not JSON
            return response
        except Exception as error:
            # The engine reports it as "respond_with of <label> <text>" (in the 500's body and
            # the verdict); the same line is kept here for the test's failure.
            text = (f"failed: {type(error).__name__}: {error}\n"
                    f"{traceback.format_exc().rstrip()}")
            self.errors.append(f"respond_with of {self.label} {text}")
            raise ResponderFailed(text) from None


class ResponderFailed(Exception):
    """A ``respond_with`` callable raised; the text starts with what it raised and has the
    traceback."""


class Session:
    """A control session: requests by op name, and answers to the engine's calls."""

    def __init__(self, connect: Callable[[Callable[[Dict[str, Any]], None]], Transport]) -> None:
        self.pid = os.getpid()
        self._responders: Dict[Tuple[int, int], Responder] = {}
        self._responders_changed = threading.Condition()
        self.transport = connect(self._on_call)
        self.closed = False
        hello = self.call("hello", version=PROTOCOL_VERSION,
                          client=f"pymocket {__version__} (python {sys.version.split()[0]})",
                          pid=self.pid)
        self.placement: str = str(hello.get("placement", "unknown"))

    @classmethod
    def open(cls) -> "Session":
        """Opens a session in the placement this process runs under.

        ``MOCKET_SOCKET`` set: the daemon of ``mocket run``; else the embedded engine's C
        functions, when ``libmocket.so`` is preloaded; else :class:`NotIntercepted`.
        """
        path = os.environ.get("MOCKET_SOCKET")
        if path:
            return cls(lambda on_call: SocketTransport.connect(path, on_call))
        functions = find_control_functions()
        if functions is None:
            raise NotIntercepted()
        return cls(lambda on_call: EmbeddedTransport(functions, on_call))

    def call(self, op: str, **fields: Any) -> Dict[str, Any]:
        """Sends request ``op`` and returns its ok reply, or raises the reply's error."""
        reply = self.transport.request({"op": op, **fields}, reply_timeout())
        if reply.get("ok") is True:
            return reply
        raise MocketError.from_reply(reply.get("error"))

    def add_responder(self, scope: int, entry: int, responder: Responder) -> None:
        with self._responders_changed:
            self._responders[(scope, entry)] = responder
            self._responders_changed.notify_all()

    def drop_scope(self, scope: int) -> None:
        with self._responders_changed:
            for key in [key for key in self._responders if key[0] == scope]:
                del self._responders[key]

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.transport.close()

    def _on_call(self, message: Dict[str, Any]) -> None:
        # On the reader (daemon) or an engine (embedded) thread: hand over at once, so replies
        # keep flowing while the callback runs (it may itself read hits or requests).
        threading.Thread(target=self._serve_call, args=(message,), name="pymocket-respond",
                         daemon=True).start()

    def _serve_call(self, message: Dict[str, Any]) -> None:
        call = message["call"]
        try:
            if message.get("op") != "respond_with":
                raise ResponderFailed(f"pymocket {__version__} cannot answer op {message.get('op')!r}")
            responder = self._find_responder(message.get("scope"), message.get("entry"))
            response = responder.answer(Request(message.get("request") or {}))
        except ResponderFailed as failure:
            self._respond(call, error=str(failure))
            return
        self._respond(call, response=response)

    def _find_responder(self, scope: Any, entry: Any) -> Responder:
        deadline = time.monotonic() + RESPONDER_LOOKUP_S
        with self._responders_changed:
            while (scope, entry) not in self._responders:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ResponderFailed(
                        f"pymocket: no respond_with callable for entry {entry} of scope {scope} "
                        f"in process {os.getpid()}"
                    )
                self._responders_changed.wait(left)
            return self._responders[(scope, entry)]

    def _respond(self, call: int, **answer: Any) -> None:
        try:
            self.call("respond", call=call, **answer)
        except MocketError as error:
            # The engine gave up waiting (no_call) or is gone: nothing left to answer.
            print(f"mocket: could not answer respond_with call {call}: {error}", file=sys.stderr)


_session: Optional[Session] = None
_session_lock = threading.Lock()


def current_session() -> Session:
    """This process's session, opened on first use (and again in a forked child)."""
    global _session
    with _session_lock:
        if _session is None or _session.closed or _session.pid != os.getpid():
            _session = Session.open()
        return _session


@atexit.register
def _close_session() -> None:
    # The embedded engine must stop calling into Python before the interpreter goes away.
    session = _session
    if session is not None and session.pid == os.getpid():
        session.close()
