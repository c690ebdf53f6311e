"""Control protocol v1 framing and the two transports.

Every message is one JSON object on one line (README, "Control protocol"). Requests carry an
``id`` and get a reply with the same ``id``; the engine's own messages (``respond_with`` calls)
carry a ``call`` instead and may arrive at any time, interleaved with replies.

* :class:`SocketTransport`: the daemon of ``mocket run``, over the Unix socket ``MOCKET_SOCKET``.
  One reader thread routes replies to the waiting requests and hands calls to ``on_call``.
* :class:`EmbeddedTransport`: the engine inside this process under a bare
  ``LD_PRELOAD=libmocket.so``, through the C functions ``mocket_control_open/send/free/close``
  found with ``ctypes.CDLL(None)``. The engine delivers calls on its own thread.

``on_call`` must return quickly (it runs on the reader or an engine thread): the session starts
a thread per call.
"""

from __future__ import annotations

import ctypes
import itertools
import json
import socket
import struct
import sys
import threading
from typing import Any, Callable, Dict, List, Optional

from .errors import MocketError, ProtocolError

#: The longest message either side may send (the engine refuses longer ones).
MAX_MESSAGE = 64 * 1024 * 1024

#: Receives an engine-initiated message (a dict with ``call`` and ``op``).
CallHandler = Callable[[Dict[str, Any]], None]


def encode_message(message: Dict[str, Any]) -> bytes:
    """One message as a line: compact UTF-8 JSON plus ``\\n``.

    Raises ``TypeError``/``ValueError`` for values JSON cannot carry (objects, NaN) and
    :class:`ProtocolError` for a message longer than :data:`MAX_MESSAGE`.
    """
    text = json.dumps(message, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    data = text.encode("utf-8") + b"\n"
    if len(data) > MAX_MESSAGE:
        raise ProtocolError(
            f"a control message of {len(data)} bytes is longer than the limit of {MAX_MESSAGE} "
            "bytes: make the entry or response smaller (e.g. a body under 64 MiB)"
        )
    return data


def decode_message(line: bytes) -> Dict[str, Any]:
    """Parses one line (without its newline) into a message object."""
    try:
        value = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise ProtocolError(
            f"the mocket engine sent a line that is not JSON ({error}): {line[:200]!r}"
        ) from None
    if not isinstance(value, dict):
        raise ProtocolError(f"the mocket engine sent JSON that is not an object: {line[:200]!r}")
    return value


class LineDecoder:
    """Splits a byte stream into messages, refusing any line longer than ``limit``."""

    def __init__(self, limit: int = MAX_MESSAGE) -> None:
        self._buffer = bytearray()
        self._scanned = 0
        self._limit = limit

    def feed(self, data: bytes) -> List[Dict[str, Any]]:
        """Adds received bytes and returns every message they complete."""
        self._buffer += data
        messages = []
        while True:
            newline = self._buffer.find(b"\n", self._scanned)
            if newline < 0:
                self._scanned = len(self._buffer)
                if self._scanned > self._limit:
                    raise ProtocolError(
                        f"the mocket engine sent a line longer than {self._limit} bytes"
                    )
                return messages
            if newline > self._limit:
                raise ProtocolError(f"the mocket engine sent a line longer than {self._limit} bytes")
            line = bytes(self._buffer[:newline])
            del self._buffer[: newline + 1]
            self._scanned = 0
            if line.strip():
                messages.append(decode_message(line))


class _Slot:
    """Where the reader thread leaves the reply to one request."""

    __slots__ = ("event", "reply", "error")

    def __init__(self) -> None:
        self.event = threading.Event()
        self.reply: Optional[Dict[str, Any]] = None
        self.error: Optional[MocketError] = None


class Transport:
    """A session with the engine: sends requests, returns their replies."""

    def request(self, message: Dict[str, Any], timeout: float) -> Dict[str, Any]:
        """Sends ``message`` (an ``op`` and its fields; the id is added) and returns the reply."""
        raise NotImplementedError

    def close(self) -> None:
        """Ends the session: the engine closes every scope it opened."""
        raise NotImplementedError


class SocketTransport(Transport):
    """Control session over a connected stream socket (the daemon's ``MOCKET_SOCKET``)."""

    #: How long a send may block on a daemon that does not read.
    SEND_TIMEOUT_S = 30

    def __init__(self, sock: socket.socket, on_call: CallHandler, limit: int = MAX_MESSAGE) -> None:
        self._sock = sock
        self._on_call = on_call
        self._limit = limit
        self._ids = itertools.count(1)
        self._send_lock = threading.Lock()
        self._pending_lock = threading.Lock()
        self._pending: Dict[int, _Slot] = {}
        self._closed: Optional[MocketError] = None
        sock.settimeout(None)
        try:
            sock.setsockopt(
                socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack("ll", self.SEND_TIMEOUT_S, 0)
            )
        except OSError:
            pass  # not every socket type takes it; sends then block like any socket's
        self._reader = threading.Thread(target=self._read_loop, name="pymocket-reader", daemon=True)
        self._reader.start()

    @classmethod
    def connect(cls, path: str, on_call: CallHandler, timeout: float = 10.0) -> "SocketTransport":
        """Connects to the daemon's Unix socket at ``path``."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(path)
        except OSError as error:
            sock.close()
            raise MocketError(
                "disconnected",
                f"mocket: cannot connect to MOCKET_SOCKET={path}: {error}; is the `mocket run` "
                "that started these tests still running?",
            ) from None
        return cls(sock, on_call)

    def request(self, message: Dict[str, Any], timeout: float) -> Dict[str, Any]:
        request_id = next(self._ids)
        data = encode_message({**message, "id": request_id})
        slot = _Slot()
        with self._pending_lock:
            if self._closed is not None:
                raise self._closed
            self._pending[request_id] = slot
        try:
            try:
                with self._send_lock:
                    self._sock.sendall(data)
            except OSError as error:
                raise MocketError(
                    "disconnected", f"mocket: sending to the engine failed: {error}"
                ) from None
            if not slot.event.wait(timeout):
                raise MocketError(
                    "timeout",
                    f"mocket: no reply to {message.get('op')!r} within {timeout:.0f} s; the engine "
                    "is stuck or overloaded (MOCKET_LEASE_TIMEOUT_MS sets how long a lease wait "
                    "may take)",
                )
        finally:
            with self._pending_lock:
                self._pending.pop(request_id, None)
        if slot.error is not None:
            raise slot.error
        assert slot.reply is not None
        return slot.reply

    def close(self) -> None:
        self._fail_all(MocketError("disconnected", "mocket: the control session was closed"))
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()

    def _read_loop(self) -> None:
        decoder = LineDecoder(self._limit)
        try:
            while True:
                data = self._sock.recv(1 << 16)
                if not data:
                    raise MocketError(
                        "disconnected",
                        "mocket: the engine closed the control connection (did `mocket run` exit?)",
                    )
                for message in decoder.feed(data):
                    self._route(message)
        except MocketError as error:
            self._fail_all(error)
        except OSError as error:
            self._fail_all(MocketError("disconnected", f"mocket: reading from the engine failed: {error}"))

    def _route(self, message: Dict[str, Any]) -> None:
        request_id = message.get("id")
        if isinstance(request_id, int):
            with self._pending_lock:
                slot = self._pending.get(request_id)
            if slot is not None:  # else: its request timed out already
                slot.reply = message
                slot.event.set()
        elif isinstance(message.get("call"), int):
            self._on_call(message)
        else:
            raise ProtocolError(f"the mocket engine sent a message with neither id nor call: {message!r:.200}")

    def _fail_all(self, error: MocketError) -> None:
        with self._pending_lock:
            if self._closed is None:
                self._closed = error
            slots = list(self._pending.values())
        for slot in slots:
            slot.error = error
            slot.event.set()


#: void (*on_message)(void *ctx, const uint8_t *msg, size_t len)
ON_MESSAGE = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint8), ctypes.c_size_t)

#: Every callback ever handed to the engine stays alive: the engine may hold its pointer until
#: the process ends, and a collected CFUNCTYPE would be a dangling function pointer.
_CALLBACKS: List[Any] = []


class _ControlFunctions:
    """The four C functions ``libmocket.so`` exports for the embedded placement."""

    def __init__(self, lib: ctypes.CDLL) -> None:
        self.open = lib.mocket_control_open
        self.open.argtypes = [ON_MESSAGE, ctypes.c_void_p]
        self.open.restype = ctypes.c_uint64
        self.send = lib.mocket_control_send
        self.send.argtypes = [
            ctypes.c_uint64,
            ctypes.c_char_p,
            ctypes.c_size_t,
            ctypes.POINTER(ctypes.c_size_t),
        ]
        self.send.restype = ctypes.POINTER(ctypes.c_uint8)
        self.free = lib.mocket_control_free
        self.free.argtypes = [ctypes.POINTER(ctypes.c_uint8), ctypes.c_size_t]
        self.free.restype = None
        self.close = lib.mocket_control_close
        self.close.argtypes = [ctypes.c_uint64]
        self.close.restype = None


def find_control_functions() -> Optional[_ControlFunctions]:
    """The embedded engine's control functions, when ``libmocket.so`` is preloaded."""
    try:
        lib = ctypes.CDLL(None)
        return _ControlFunctions(lib)
    except (OSError, AttributeError):
        return None


class EmbeddedTransport(Transport):
    """Control session with the engine inside this process (bare ``LD_PRELOAD``).

    ``mocket_control_send`` blocks until the engine answers (a lease wait included, bounded by
    ``MOCKET_LEASE_TIMEOUT_MS`` in the engine), so ``timeout`` is not used here.
    """

    def __init__(self, functions: _ControlFunctions, on_call: CallHandler) -> None:
        self._functions = functions
        self._on_call = on_call
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._callback = ON_MESSAGE(self._on_message)
        _CALLBACKS.append(self._callback)
        self._session = int(functions.open(self._callback, None))
        if self._session == 0:
            raise MocketError(
                "engine",
                "mocket: the embedded engine did not start (libmocket.so printed why on stderr; "
                "check MOCKET_CONFIG and MOCKET_ENGINE_LIB)",
            )

    def _on_message(self, _ctx: Optional[int], data: Any, length: int) -> None:
        # Runs on an engine thread: never let an exception unwind into C.
        try:
            message = decode_message(ctypes.string_at(data, length))
            if isinstance(message.get("call"), int):
                self._on_call(message)
        except BaseException as error:  # noqa: BLE001 - nothing may cross into C
            print(f"mocket: dropped an engine message: {error}", file=sys.stderr)

    def request(self, message: Dict[str, Any], timeout: float) -> Dict[str, Any]:
        with self._lock:
            session = self._session
            request_id = next(self._ids)
        if session == 0:
            raise MocketError("disconnected", "mocket: the control session was closed")
        data = encode_message({**message, "id": request_id})[:-1]
        reply_len = ctypes.c_size_t(0)
        reply = self._functions.send(session, data, len(data), ctypes.byref(reply_len))
        if not reply:
            raise MocketError(
                "disconnected", "mocket: the embedded engine no longer knows this control session"
            )
        try:
            raw = ctypes.string_at(reply, reply_len.value)
        finally:
            self._functions.free(reply, reply_len.value)
        answer = decode_message(raw)
        if answer.get("id") != request_id:
            raise ProtocolError(
                f"the embedded engine answered request {request_id} with id {answer.get('id')!r}"
            )
        return answer

    def close(self) -> None:
        with self._lock:
            session, self._session = self._session, 0
        if session:
            self._functions.close(session)
