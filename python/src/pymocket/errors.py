"""Exceptions raised by pymocket.

Every error of the control protocol becomes a :class:`MocketError` carrying the engine's
``kind``, ``message`` and (for bad entries) ``key``, so a test can tell a misspelt key from a
lease that timed out without parsing text.
"""

from __future__ import annotations

from typing import Optional

#: The one line printed when neither placement is available.
NOT_INTERCEPTED = (
    "mocket: nothing intercepts this process: run the tests under `mocket run -- pytest ...`, "
    "or with LD_PRELOAD=/path/to/libmocket.so"
)


class MocketError(Exception):
    """An error reply of the engine, or a broken connection to it.

    ``kind`` is the protocol's error kind (``invalid``, ``lease_timeout``, ``version``,
    ``bad_request``, ``no_scope``, ``no_entry``, ``no_call``) or one of pymocket's own:
    ``disconnected`` (the engine went away), ``protocol`` (the engine sent something that is
    not the protocol), ``timeout`` (no reply in time), ``not_intercepted``.
    """

    def __init__(self, kind: str, message: str, key: Optional[str] = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.key = key

    @classmethod
    def from_reply(cls, error: object) -> "MocketError":
        """Builds the most specific exception for the ``error`` object of a reply."""
        if not isinstance(error, dict):
            return ProtocolError(f"error reply without an error object: {error!r}")
        kind = str(error.get("kind", "unknown"))
        message = str(error.get("message", "(the engine gave no message)"))
        key = error.get("key")
        key = str(key) if key is not None else None
        if kind == "invalid":
            return InvalidEntry(message, key)
        if kind == "lease_timeout":
            return LeaseTimeout(message)
        return cls(kind, message, key)


class InvalidEntry(MocketError, ValueError):
    """The engine refused an entry: ``key`` is the key path (``response.status``), ``message``
    says what is wrong and how to fix it (the same text ``mocket check`` prints)."""

    def __init__(self, message: str, key: Optional[str] = None) -> None:
        super().__init__("invalid", message, key)


class LeaseTimeout(MocketError):
    """Another live test held the destination for longer than ``MOCKET_LEASE_TIMEOUT_MS``; the
    message names that test."""

    def __init__(self, message: str) -> None:
        super().__init__("lease_timeout", message)


class ProtocolError(MocketError):
    """The peer sent bytes that are not control protocol v1 (bad JSON, a line too long...)."""

    def __init__(self, message: str) -> None:
        super().__init__("protocol", message)


class NotIntercepted(MocketError):
    """Neither ``MOCKET_SOCKET`` nor ``libmocket.so``'s control functions are available."""

    def __init__(self) -> None:
        super().__init__("not_intercepted", NOT_INTERCEPTED)


class VerificationFailed(AssertionError):
    """A scope's expectations failed, it saw unmatched requests, or a ``respond_with`` callback
    raised. ``str()`` is the engine's report: each failed expectation with its expected and
    actual count, each unmatched request with its nearest miss, each callback error."""

    def __init__(self, message: str, verdict: Optional[dict] = None) -> None:
        super().__init__(message)
        self.verdict = verdict or {}
