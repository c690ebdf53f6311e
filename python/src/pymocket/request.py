"""What the engine saw: one HTTP request, Redis command or TCP message."""

from __future__ import annotations

import base64
import json as jsonlib
from typing import Any, Dict, List, Optional, Tuple


class Request:
    """A request as the engine received it (``handle.requests``, ``mocket.requests`` and the
    argument of ``respond_with``).

    HTTP: ``method``, ``url`` (with scheme, host, and query), ``path``, ``query`` (name -> first
    value), ``headers`` (lower-case name -> value; repeated headers joined with ``", "``),
    ``body`` (bytes), ``text`` and ``json()``. Redis: ``protocol == "redis"`` and ``command``
    (a list of strings). TCP: ``protocol == "tcp"`` and ``body``. Every request also has
    ``matched`` (False for a request no entry of the scope matched) and ``miss`` (the
    nearest-miss text of an unmatched request).
    """

    def __init__(self, raw: Dict[str, Any]) -> None:
        self.raw: Dict[str, Any] = raw
        self.seq: Optional[int] = raw.get("seq")
        self.entry: Optional[int] = raw.get("entry")
        self.protocol: str = raw.get("protocol", "http")
        self.pid: Optional[int] = raw.get("pid")
        self.method: Optional[str] = raw.get("method")
        self.url: Optional[str] = raw.get("url")
        self.path: Optional[str] = raw.get("path")
        self.query_list: List[Tuple[str, str]] = [(str(k), str(v)) for k, v in raw.get("query") or []]
        self.header_list: List[Tuple[str, str]] = [
            (str(k).lower(), str(v)) for k, v in raw.get("headers") or []
        ]
        self.command: Optional[List[str]] = raw.get("command")
        self.matched: bool = bool(raw.get("matched", True))
        self.miss: Optional[str] = raw.get("miss")
        self.body_truncated: bool = bool(raw.get("body_truncated", False))
        if raw.get("body_base64") is not None:
            self.body: bytes = base64.b64decode(raw["body_base64"])
        else:
            self.body = str(raw.get("body") or "").encode("utf-8")

    @property
    def query(self) -> Dict[str, str]:
        """Query parameters, name -> first value (``query_list`` has them all, in order)."""
        params: Dict[str, str] = {}
        for name, value in self.query_list:
            params.setdefault(name, value)
        return params

    @property
    def headers(self) -> Dict[str, str]:
        """Headers with lower-case names; a repeated header's values joined with ``", "``."""
        headers: Dict[str, str] = {}
        for name, value in self.header_list:
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        return headers

    def header(self, name: str) -> Optional[str]:
        """One header's value (name case-insensitive), or None."""
        return self.headers.get(name.lower())

    @property
    def text(self) -> str:
        """The body as text (UTF-8; undecodable bytes replaced)."""
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON (raises ``ValueError`` if it is not JSON)."""
        return jsonlib.loads(self.body)

    def __repr__(self) -> str:
        if self.protocol == "redis":
            return f"<Request redis {self.command!r}>"
        if self.protocol == "tcp":
            return f"<Request tcp {self.body[:60]!r}>"
        state = "" if self.matched else " unmatched"
        return f"<Request {self.method} {self.url}{state}>"
